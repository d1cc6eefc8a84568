package config

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// Config is the whole server configuration. Field doc comments are the user documentation;
// config-adaptive.toml repeats them next to each key with its default.
type Config struct {
	Server     Server     `toml:"server"`
	Storage    Storage    `toml:"storage"`
	Auth       Auth       `toml:"auth"`
	Upload     Upload     `toml:"upload"`
	Download   Download   `toml:"download"`
	Resumable  Resumable  `toml:"resumable"`
	Sessions   Sessions   `toml:"sessions"`
	Limits     Limits     `toml:"limits"`
	Streaming  Streaming  `toml:"streaming"`
	CORS       CORS       `toml:"cors"`
	Metrics    Metrics    `toml:"metrics"`
	Log        Log        `toml:"log"`
	Admin      Admin      `toml:"admin"`
	Audit      Audit      `toml:"audit"`
	Scan       Scan       `toml:"scan"`
	Thumbnails Thumbnails `toml:"thumbnails"`
}

// Thumbnails configures the previews of stored images served at ?thumb=SIZE ([thumbnails]).
type Thumbnails struct {
	// Enabled serves JPEG thumbnails of JPEG, PNG, GIF and WebP files at
	// /upload/<path>?thumb=<size>, made once and kept in storage.path/thumbs until the
	// file's bytes leave local storage, or until unused for Keep.
	Enabled bool `toml:"enabled"`
	// Sizes are the sizes offered (the longest side, in pixels); others get 400.
	Sizes []int `toml:"sizes"`
	// MaxPixels refuses (422) images whose header declares more pixels than this, before
	// decoding; their decoded pixels are also taken from streaming.memory_budget.
	MaxPixels int64 `toml:"max_pixels"`
	// Timeout is the longest a request waits for its thumbnail (503 after it).
	Timeout Duration `toml:"timeout"`
	// Concurrency is how many thumbnails are made at once.
	Concurrency int `toml:"concurrency"`
	// Keep removes a thumbnail nobody asked for in this long (checked hourly): what a
	// removal could not take along (a crash in between, another node's removal on shared
	// object storage, thumbnails older than that rule) goes then. 0 keeps them until their
	// file is removed.
	Keep Duration `toml:"keep"`
}

// Address is clamd's network ("unix" or "tcp") and address.
func (s Scan) Address() (network, address string, err error) {
	switch a := s.Clamd; {
	case strings.HasPrefix(a, "unix:"):
		return "unix", strings.TrimPrefix(a, "unix:"), nil
	case strings.HasPrefix(a, "tcp:"):
		return "tcp", strings.TrimPrefix(a, "tcp:"), nil
	case strings.HasPrefix(a, "/"):
		return "unix", a, nil
	case strings.Count(a, ":") == 1 && !strings.HasSuffix(a, ":"):
		return "tcp", a, nil
	}
	return "", "", fmt.Errorf("must be unix:/path, tcp:host:port, /path or host:port")
}

// Scan configures malware scanning with ClamAV's clamd ([scan]).
type Scan struct {
	// Clamd is clamd's address: "unix:/run/clamav/clamd.ctl" (Debian's), "tcp:host:port", a
	// socket path or host:port. Empty: no scanning (the default).
	Clamd string `toml:"clamd"`
	// MaxSize is the largest upload scanned; larger ones are stored unscanned (counted).
	// clamd refuses streams over its own StreamMaxLength (25 MiB in Debian's clamd.conf):
	// raise that too, or uploads between the two are counted as skipped.
	MaxSize Size `toml:"max_size"`
	// OnUnreachable is what happens to an upload when clamd cannot be asked: "refuse" (503,
	// the default) or "accept" (stored unscanned, counted and logged).
	OnUnreachable string `toml:"on_unreachable"`
	// Timeout bounds clamd's silence: a write of the stream or the wait for its verdict.
	Timeout Duration `toml:"timeout"`
}

// Server configures the HTTP listener.
type Server struct {
	// Listen is the TCP address to serve on, host:port.
	Listen string `toml:"listen"`
	// PublicURL is the scheme://host[:port] clients reach this server at; the links handed to
	// clients (download and upload URLs) start with it. Empty: the listen address (this
	// machine's host name for 0.0.0.0), with a warning at start-up unless it is loopback.
	// Links are never built from a request's Host header, which the client chooses.
	PublicURL string `toml:"public_url"`
	// ReadHeaderTimeout bounds how long a client may take to send request headers.
	ReadHeaderTimeout Duration `toml:"read_header_timeout"`
	// IdleTimeout closes keep-alive connections idle for longer than this.
	IdleTimeout Duration `toml:"idle_timeout"`
	// ShutdownTimeout is how long in-flight transfers may drain after SIGTERM.
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	// MaxHeaderBytes caps the size of request headers.
	MaxHeaderBytes Size `toml:"max_header_bytes"`
	// GCHeadroom is how much garbage the Go collector lets build up before it runs while
	// less than that is live (more live: it runs when the heap doubles, the runtime's
	// default). More headroom: fewer collections and more CPU for requests, against that
	// much more resident memory under load. 0: the runtime's default alone. Ignored when
	// GOGC is set in the environment.
	GCHeadroom Size `toml:"gc_headroom"`
	// TLSCert and TLSKey are PEM files; when both are set the server terminates TLS itself
	// (HTTP/2 on) and reloads them when they change on disk.
	TLSCert string `toml:"tls_cert"`
	// TLSKey is the private key matching TLSCert.
	TLSKey string `toml:"tls_key"`
	// HSTSMaxAge is the max-age of the Strict-Transport-Security header on HTTPS responses:
	// browsers then refuse plain http to this host for that long. 0 sends none. Only
	// responses this server encrypts carry it; behind a TLS proxy the proxy sets it.
	HSTSMaxAge Duration `toml:"hsts_max_age"`
	// TrustedProxies lists the addresses or CIDRs of reverse proxies whose X-Forwarded-For
	// and Forwarded headers are believed. From anyone else those headers are ignored and the
	// client is the connection's peer: logs, limits and metrics use that address.
	TrustedProxies []string `toml:"trusted_proxies"`
}

// Storage configures where files live.
type Storage struct {
	// Backend is the storage kind: "local" (a directory on local disk) or "s3" (an
	// S3-compatible object store, see S3).
	Backend string `toml:"backend"`
	// Path is the data directory for the local backend. It is created if missing.
	Path string `toml:"path"`
	// Fsync makes every upload durable (file and directory synced) before its 201.
	Fsync bool `toml:"fsync"`
	// Checksum keeps a SHA-256 of every upload, computed while it streams in: clients get it
	// as Repr-Digest (fileserver upload checks it) and downloads a content-based ETag. It
	// costs about 0.6 CPU-seconds per GB received.
	Checksum bool `toml:"checksum"`
	// Dedup stores an upload whose bytes (size and SHA-256) are already stored as a hard link
	// to them, on local storage: a photo forwarded to ten group chats takes its space once.
	// Each name keeps its own type, uploader, lifetime and quota; removing one never removes
	// another's bytes. It needs storage.checksum: with checksums off nothing is deduplicated
	// (a warning at start says so). Cost: a lookup per upload; a duplicate is not even
	// synced. The object store backend does not deduplicate.
	Dedup bool `toml:"dedup"`
	// Preallocate reserves an upload's announced length on disk (fallocate) before its body
	// is read: a full disk is refused at once, and ingest costs less CPU. Turn it off on
	// copy-on-write filesystems (btrfs, ZFS), where reserving space gains nothing.
	Preallocate bool `toml:"preallocate"`
	// MinFree is the free space the filesystem must keep: an upload that would go below it
	// is refused with 507, before its body is read when its length is known (counting what
	// uploads in progress were promised), else as soon as its bytes would cross it; the
	// request keeps nothing. 0 turns the floor off (a full disk still gives 507 and leaves
	// nothing half-written). It applies to local storage only.
	MinFree Size `toml:"min_free"`
	// S3 configures the "s3" backend.
	S3 S3 `toml:"s3"`
}

// S3 configures storage in an S3-compatible object store ([storage.s3]), shared by several
// nodes.
type S3 struct {
	// Endpoint is the object store's URL, http://host:port or https://host.
	Endpoint string `toml:"endpoint"`
	// Bucket holds the files. It must exist: a missing bucket stops start-up.
	Bucket string `toml:"bucket"`
	// Region is the bucket's region.
	Region string `toml:"region"`
	// AccessKey and SecretKey are the credentials; both empty means anonymous requests.
	AccessKey string `toml:"access_key"`
	// AccessKeyFile, when set, is a file whose content is the access key.
	AccessKeyFile string `toml:"access_key_file"`
	// SecretKey is the secret of AccessKey.
	SecretKey string `toml:"secret_key"`
	// SecretKeyFile, when set, is a file whose content is the secret key.
	SecretKeyFile string `toml:"secret_key_file"`
	// PathStyle forces path-style requests (endpoint/bucket/key), which most servers other
	// than AWS need; off, the client picks (virtual-hosted for AWS, path-style elsewhere).
	PathStyle bool `toml:"path_style"`
	// Prefix is put in front of every file's name to make its object key, e.g. "files/".
	Prefix string `toml:"prefix"`
	// PartSize is the size of multipart upload parts (at least 5MiB, S3's minimum).
	PartSize Size `toml:"part_size"`
	// Concurrency is how many parts of one upload are sent at once while the next is received.
	Concurrency int `toml:"concurrency"`
	// UnsignedPayload leaves request bodies unsigned over plain http, as over https.
	UnsignedPayload bool `toml:"unsigned_payload"`
	// RedirectDownloads answers a GET with a redirect to a presigned URL of the object, which
	// the object store then serves itself (HEAD and conditional requests are still answered
	// here).
	RedirectDownloads bool `toml:"redirect_downloads"`
	// RedirectExpiry is how long a presigned download URL is valid.
	RedirectExpiry Duration `toml:"redirect_expiry"`
	// PublicEndpoint is the object store's URL as clients reach it, for presigned URLs;
	// empty: endpoint.
	PublicEndpoint string `toml:"public_endpoint"`
}

// Sessions configures where resumable sessions and their locks live ([sessions]).
type Sessions struct {
	// Store is "local" (files in the data directory, locks in the process: one node) or
	// "redis" (state and leases in Redis, shared by every node).
	Store string `toml:"store"`
	// RedisURL is redis://[user:password@]host:port/db (rediss:// for TLS).
	RedisURL string `toml:"redis_url"`
	// RedisPrefix is put in front of every Redis key and channel.
	RedisPrefix string `toml:"redis_prefix"`
	// LockLease is how long a node's hold on an upload lasts without renewal: after a node
	// dies, another takes its uploads over after at most this long.
	LockLease Duration `toml:"lock_lease"`
	// SingleNode declares that one node serves this storage, which lets the s3 backend keep
	// sessions locally.
	SingleNode bool `toml:"single_node"`
}

// Credentials returns the access and secret key, read from their files when those are set.
func (s S3) Credentials() (access, secret string, err error) {
	access, secret = s.AccessKey, s.SecretKey
	for _, f := range []struct {
		key, file string
		dst       *string
	}{{"storage.s3.access_key_file", s.AccessKeyFile, &access}, {"storage.s3.secret_key_file", s.SecretKeyFile, &secret}} {
		if f.file == "" {
			continue
		}
		data, err := os.ReadFile(f.file)
		if err != nil {
			return "", "", &Error{Key: f.key, Reason: err.Error()}
		}
		if *f.dst = strings.TrimSpace(string(data)); *f.dst == "" {
			return "", "", &Error{Key: f.key, Reason: f.file + " is empty"}
		}
	}
	return access, secret, nil
}

// Auth configures the shared secret behind every signature scheme.
type Auth struct {
	// Secret is the HMAC secret shared with Prosody/ejabberd. Empty means: generate one into
	// <storage.path>/.secret (mode 0600) on first start and use it.
	Secret string `toml:"secret"`
	// PreviousSecrets are still accepted for verification, for rotation without downtime.
	PreviousSecrets []string `toml:"previous_secrets"`
	// ClockSkew tolerates this much clock difference on expiring (v3, token) signatures.
	ClockSkew Duration `toml:"clock_skew"`
	// AllowShortSecret permits secrets shorter than 32 bytes (not recommended). It applies to
	// previous_secrets too.
	AllowShortSecret bool `toml:"allow_short_secret"`
	// MaxTokenLifetime is the furthest in the future a bearer token's exp may lie: a token
	// that claims to stay valid for longer is refused (401). Prosody's tokens expire 5
	// minutes after they are issued.
	MaxTokenLifetime Duration `toml:"max_token_lifetime"`
}

// Upload configures XEP-0363 PUT and POST uploads.
type Upload struct {
	// Prefix is the URL path under which uploads and downloads live; it starts and ends with "/".
	Prefix string `toml:"prefix"`
	// MaxSize is the largest accepted upload; 0 means no limit.
	MaxSize Size `toml:"max_size"`
	// AllowedExtensions, when not empty, is the only file extensions accepted (".jpg" or "jpg",
	// case-insensitive, multi-part like ".tar.gz" allowed).
	AllowedExtensions []string `toml:"allowed_extensions"`
	// DeniedExtensions are refused even when allowed.
	DeniedExtensions []string `toml:"denied_extensions"`
	// CheckTypes refuses (415) an upload declared as an image, audio or video whose first
	// bytes say it is something else (an HTML page declared image/png): browsers are kept
	// safe by how downloads are served anyway, this keeps such files from native clients
	// that render them inline. Only what cannot be media at all is refused (text, PDF,
	// archives, executables, by signatures random bytes do not carry): encrypted (OMEMO)
	// uploads, unknown formats and media of another kind pass. Cost: reading the first 512
	// bytes of each such upload back after its commit.
	CheckTypes bool `toml:"check_types"`
	// ReadIdleTimeout cuts off an upload whose client sends nothing for this long, so a stalled
	// client cannot pin a buffer forever. 0 disables it.
	ReadIdleTimeout Duration `toml:"read_idle_timeout"`
	// TTL removes files this long after their upload; 0 keeps them forever. A Prosody token's
	// expires claim, when earlier, wins for its file. A signed URL's expiry (v3) is the URL's,
	// bounding when an upload may start or resume, never how long its file is kept.
	TTL Duration `toml:"ttl"`
	// ReapInterval is how often expired files are looked for.
	ReapInterval Duration `toml:"reap_interval"`
}

// Download configures GET and HEAD.
type Download struct {
	// WriteIdleTimeout cuts off a download whose client reads nothing for this long. 0 disables it.
	WriteIdleTimeout Duration `toml:"write_idle_timeout"`
	// SmallFileCache bounds the bytes of small files kept in memory, with their response
	// headers, so a plain GET or HEAD of one is answered without touching the disk. 0 disables it.
	SmallFileCache Size `toml:"small_file_cache"`
	// SmallFileMax is the largest file the small-file cache holds. 0 disables the cache.
	SmallFileMax Size `toml:"small_file_max"`
	// OpenFiles is how many open file handles (with their metadata) are kept for reuse by
	// downloads the small-file cache does not answer (Range requests, larger files). 0 disables it.
	OpenFiles int `toml:"open_files"`
	// Revalidate is how often a cached file or handle is checked against the disk, in case
	// another process (fileserver gc) removed it; deletes by this process take effect at once.
	Revalidate Duration `toml:"revalidate"`
}

// Limits protect the server from floods and slow clients. Each is off at 0. Clients are told
// apart by address (see server.trusted_proxies).
type Limits struct {
	// MaxConcurrentUploads caps uploads in progress server-wide; more get 503 with Retry-After.
	MaxConcurrentUploads int `toml:"max_concurrent_uploads"`
	// PerClientUploads caps one address's uploads in progress; more get 429 with Retry-After.
	PerClientUploads int `toml:"per_client_uploads"`
	// PerClientRate caps one address's requests per second (with a burst of twice that); more
	// get 429 with Retry-After.
	PerClientRate float64 `toml:"per_client_rate"`
	// MinUploadRate cuts off an upload whose average rate stays below it (bytes per second)
	// after MinRateGrace; a resumable upload keeps what arrived.
	MinUploadRate Size `toml:"min_upload_rate"`
	// MinRateGrace is how long an upload may be slow before MinUploadRate applies.
	MinRateGrace Duration `toml:"min_rate_grace"`
	// IPv6Prefix is how many leading bits of an IPv6 address make one client for the
	// per-client limits: one subscriber is usually given a whole /64, and would otherwise
	// escape them by changing address. 128 tells every address apart.
	IPv6Prefix int `toml:"ipv6_prefix"`
	// DailyQuota caps the bytes one uploader may store per UTC day: the JID of a Prosody
	// token, else the client's address. Past it uploads get 429 until the day turns.
	DailyQuota Size `toml:"daily_quota"`
}

// Resumable configures uploads that survive dropped connections and restarts: tus 1.0 and
// the IETF resumable-upload draft at Prefix, and Content-Range PUT on signed upload URLs.
type Resumable struct {
	// Enabled serves the resumable endpoint.
	Enabled bool `toml:"enabled"`
	// Prefix is the URL path of the resumable endpoint; it starts and ends with "/".
	Prefix string `toml:"prefix"`
	// SessionTTL is how long an unfinished upload is kept after its last data arrived.
	SessionTTL Duration `toml:"session_ttl"`
	// ReapInterval is how often expired uploads are removed.
	ReapInterval Duration `toml:"reap_interval"`
	// StaleAfter: a request writing an upload keeps it from another request (which gets 409)
	// until it has received nothing for this long; then the other cuts it off and takes over.
	StaleAfter Duration `toml:"stale_after"`
	// CheckpointBytes and CheckpointInterval bound what a crash, a kill or a lost node costs
	// an upload streaming in: once this much has arrived since the last checkpoint (or this
	// long has passed, with at least a byte), what arrived is synced and then recorded with
	// the offset, so the upload resumes from there. 0 turns one bound off; both 0 record only
	// when a request ends.
	CheckpointBytes Size `toml:"checkpoint_bytes"`
	// CheckpointInterval: see CheckpointBytes.
	CheckpointInterval Duration `toml:"checkpoint_interval"`
}

// Streaming configures the StreamingEngine every byte passes through.
type Streaming struct {
	// Adaptive sizes each transfer's buffer from what the engine measured of its client
	// (throughput, RTT): about the bandwidth-delay product, within [min_buffer, max_buffer].
	// Off, every transfer uses buffer_size.
	Adaptive bool `toml:"adaptive"`
	// BufferSize is the buffer of a transfer from a client the engine knows nothing about
	// yet, and of every transfer when adaptive is off. Sizes are rounded up to a power of two.
	BufferSize Size `toml:"buffer_size"`
	// MinBuffer and MaxBuffer bound the buffers the engine picks (16KiB to 4MiB).
	MinBuffer Size `toml:"min_buffer"`
	// MaxBuffer is the largest buffer a transfer gets.
	MaxBuffer Size `toml:"max_buffer"`
	// MemoryBudget caps the bytes of all transfer buffers together, lent or kept for reuse.
	MemoryBudget Size `toml:"memory_budget"`
	// OnBudgetExhausted says what a transfer does when its buffer does not fit the budget:
	// "downgrade" takes a smaller buffer (down to min_buffer) and waits only when not even
	// that fits; "wait" waits for the size it asked for; "refuse" takes what fits or answers
	// 503 with Retry-After at once. Waits are first come, first served, bounded by budget_wait.
	OnBudgetExhausted string `toml:"on_budget_exhausted"`
	// BudgetWait is the longest a transfer waits for a buffer before it is answered 503.
	BudgetWait Duration `toml:"budget_wait"`
	// ChunkPolicy is how the chunk size recommended to resumable clients is chosen:
	// "adaptive" (chunk_target at the client's measured throughput, smaller for clients whose
	// transfers break off) or "fixed" (always max_chunk).
	ChunkPolicy string `toml:"chunk_policy"`
	// ChunkTarget is how long one chunk should take to send at the client's throughput.
	ChunkTarget Duration `toml:"chunk_target"`
	// MinChunk and MaxChunk bound the recommended chunk size.
	MinChunk Size `toml:"min_chunk"`
	// MaxChunk is the largest recommended chunk size.
	MaxChunk Size `toml:"max_chunk"`
	// ProfileTTL is how long the engine remembers a client it has not seen.
	ProfileTTL Duration `toml:"profile_ttl"`
}

// CORS configures cross-origin headers for browser clients (Converse.js).
type CORS struct {
	// Enabled adds CORS headers to every response and answers preflights. Turn it off when a
	// proxy in front adds them.
	Enabled bool `toml:"enabled"`
	// AllowedOrigins lists origins allowed; ["*"] allows any.
	AllowedOrigins []string `toml:"allowed_origins"`
	// MaxAge is how long browsers may cache a preflight answer.
	MaxAge Duration `toml:"max_age"`
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	// Enabled serves Prometheus metrics.
	Enabled bool `toml:"enabled"`
	// Path is where metrics are served.
	Path string `toml:"path"`
	// Listen, when set, serves metrics on this address (host:port) instead of the main
	// listener, so they need not be public.
	Listen string `toml:"listen"`
	// AllowedNetworks, when not empty, are the only addresses or CIDRs metrics are served to
	// (others get 403), on either listener. Behind a reverse proxy list it in
	// server.trusted_proxies, or every scrape comes from the proxy's address.
	AllowedNetworks []string `toml:"allowed_networks"`
}

// Log configures logging.
type Log struct {
	// Level is one of debug, info, warn, error.
	Level string `toml:"level"`
	// Format is json, console, or auto (console on a terminal, json otherwise).
	Format string `toml:"format"`
	// FlushInterval is how long request events may wait in memory to be written together
	// (json format): a write per batch, not per request. Other events are written at once.
	// 0 writes every event at once.
	FlushInterval Duration `toml:"flush_interval"`
}

// Admin configures the operators' listener: a JSON API under /api/v1/ and a web dashboard at
// /, served only there, never on server.listen.
type Admin struct {
	// Listen is the admin listener's address (host:port), e.g. "127.0.0.1:8081"; empty turns
	// the admin API and dashboard off. With server.tls_cert and tls_key set it speaks TLS.
	Listen string `toml:"listen"`
	// Tokens are the bearer tokens that open the API and the dashboard, each "name:token"
	// (the name is what the audit log records; a token alone is named "admin"). A token has
	// at least 32 bytes. FILESERVER_ADMIN_TOKEN adds tokens (comma-separated) and
	// FILESERVER_ADMIN_TOKEN_FILE a file of them, one per line.
	Tokens []string `toml:"tokens"`
	// SessionTTL is how long a dashboard sign-in lasts.
	SessionTTL Duration `toml:"session_ttl"`
	// CountFlush is how often download counts are written out (to the data directory, or
	// to Redis when sessions.store = "redis"): a download never waits on that write.
	CountFlush Duration `toml:"count_flush"`
}

// AdminToken is one admin bearer token and the name the audit log knows it by.
type AdminToken struct{ Name, Token string }

// MinAdminToken is the shortest admin token accepted, in bytes.
const MinAdminToken = 32

// ParsedTokens splits Tokens into names and tokens: "name:token", or a token alone (named
// "admin"). Tokens shorter than MinAdminToken, names that are not [A-Za-z0-9._-]{1,64} and a
// name or token given twice are refused; the error never quotes a token.
func (a Admin) ParsedTokens() ([]AdminToken, error) {
	var out []AdminToken
	names, tokens := map[string]bool{}, map[string]bool{}
	for i, t := range a.Tokens {
		name, tok, ok := strings.Cut(t, ":")
		if !ok {
			name, tok = "admin", t
		}
		switch {
		case len(tok) < MinAdminToken:
			return nil, fmt.Errorf("token %d has %d bytes; at least %d are needed (openssl rand -hex 32 makes one)", i+1, len(tok), MinAdminToken)
		case !validTokenName(name):
			return nil, fmt.Errorf("token %d: its name must be 1 to 64 of A-Z a-z 0-9 . _ -", i+1)
		case names[name]:
			return nil, fmt.Errorf("token %d: the name %q is given twice", i+1, name)
		case tokens[tok]:
			return nil, fmt.Errorf("token %d is the same token as an earlier one", i+1)
		}
		names[name], tokens[tok] = true, true
		out = append(out, AdminToken{Name: name, Token: tok})
	}
	return out, nil
}

func validTokenName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Audit configures the audit log: JSON lines of security-relevant events (uploads committed,
// files removed, takedowns, admin sign-ins, a per-minute summary of refused signatures),
// never a secret or a signature.
type Audit struct {
	// Path is the file the audit log is appended to, "stdout", or empty for none.
	Path string `toml:"path"`
}

// Default returns the embedded defaults the server runs on with no config file.
func Default() Config {
	return Config{
		Server: Server{
			Listen:            "127.0.0.1:8080",
			ReadHeaderTimeout: Duration(10 * time.Second),
			IdleTimeout:       Duration(120 * time.Second),
			ShutdownTimeout:   Duration(30 * time.Second),
			MaxHeaderBytes:    64 * KiB,
			GCHeadroom:        16 * MiB,
			HSTSMaxAge:        Duration(365 * 24 * time.Hour),
		},
		Storage:  Storage{Backend: "local", Path: "./data", Fsync: true, Checksum: true, Dedup: true, Preallocate: true, MinFree: 256 * MiB, S3: S3{Region: "us-east-1", PartSize: 8 * MiB, Concurrency: 2, RedirectExpiry: Duration(5 * time.Minute)}},
		Sessions: Sessions{Store: "local", RedisPrefix: "fileserver:", LockLease: Duration(10 * time.Second)},
		Limits:   Limits{MinRateGrace: Duration(30 * time.Second), IPv6Prefix: 64},
		Auth:     Auth{ClockSkew: Duration(30 * time.Second), MaxTokenLifetime: Duration(time.Hour)},
		Upload: Upload{
			Prefix:          "/upload/",
			MaxSize:         1 * GiB,
			ReadIdleTimeout: Duration(60 * time.Second),
			ReapInterval:    Duration(time.Hour),
			CheckTypes:      true,
		},
		Download: Download{
			WriteIdleTimeout: Duration(60 * time.Second),
			SmallFileCache:   64 * MiB, SmallFileMax: 64 * KiB, OpenFiles: 256, Revalidate: Duration(time.Second),
		},
		Resumable: Resumable{
			Enabled:      true,
			Prefix:       "/files/",
			SessionTTL:   Duration(24 * time.Hour),
			ReapInterval: Duration(time.Hour),
			StaleAfter:   Duration(2 * time.Second),
			// Chosen from bench/checkpoint.sh (bench/README.md, "Checkpoints").
			CheckpointBytes:    64 * MiB,
			CheckpointInterval: Duration(time.Second),
		},
		Streaming: Streaming{
			Adaptive: true, BufferSize: 1 * MiB, MinBuffer: 16 * KiB, MaxBuffer: 1 * MiB,
			MemoryBudget: 128 * MiB, OnBudgetExhausted: "downgrade", BudgetWait: Duration(30 * time.Second),
			ChunkPolicy: "adaptive", ChunkTarget: Duration(10 * time.Second),
			MinChunk: 1 * MiB, MaxChunk: 64 * MiB, ProfileTTL: Duration(time.Hour),
		},
		CORS:       CORS{Enabled: true, AllowedOrigins: []string{"*"}, MaxAge: Duration(24 * time.Hour)},
		Metrics:    Metrics{Enabled: true, Path: "/metrics"},
		Log:        Log{Level: "info", Format: "auto", FlushInterval: Duration(time.Second)},
		Admin:      Admin{Tokens: []string{}, SessionTTL: Duration(12 * time.Hour), CountFlush: Duration(5 * time.Second)},
		Scan:       Scan{MaxSize: 100 * MiB, OnUnreachable: "refuse", Timeout: Duration(time.Minute)},
		Thumbnails: Thumbnails{Sizes: []int{128, 256, 512}, MaxPixels: 40_000_000, Timeout: Duration(10 * time.Second), Concurrency: 2, Keep: Duration(7 * 24 * time.Hour)},
	}
}
