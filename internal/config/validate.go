package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// MinSecretLength is the shortest secret accepted unless auth.allow_short_secret is set.
const MinSecretLength = 32

// Validate checks values that each parse but may still be wrong or inconsistent, section by
// section, and reports the first problem. An empty auth.secret is valid here: serve
// generates one.
func (c *Config) Validate() error {
	for _, check := range []func() error{
		c.validateServer, c.validateStorage, c.validateResumable,
		func() error { return c.Sessions.validate(c) },
		c.validateAuth, c.validateUpload, c.Download.validate, c.Streaming.validate,
		c.validateMetrics, c.validateLog, c.validateAdmin, c.validateScan, c.validateThumbnails,
	} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// bad is the error for key's value.
func bad(key, reason string) error { return &Error{Key: key, Reason: reason} }

// validHostPort reports whether v is host:port with a port.
func validHostPort(v string) bool {
	_, port, err := net.SplitHostPort(v)
	return err == nil && port != ""
}

// validPrefixes checks a list of addresses and CIDR networks.
func validPrefixes(key string, list []string) error {
	for _, p := range list {
		if _, err := ParsePrefix(p); err != nil {
			return bad(key, err.Error())
		}
	}
	return nil
}

func (c *Config) validateServer() error {
	if !validHostPort(c.Server.Listen) {
		return bad("server.listen", "must be host:port, e.g. 127.0.0.1:8080 or :8080")
	}
	if c.Server.PublicURL != "" {
		u, err := url.Parse(c.Server.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
			return bad("server.public_url", "must be an absolute http(s) URL such as https://upload.example.org")
		}
	}
	if (c.Server.TLSCert == "") != (c.Server.TLSKey == "") {
		return bad("server.tls_cert", "tls_cert and tls_key must be set together")
	}
	if c.Server.MaxHeaderBytes < 4*KiB {
		return bad("server.max_header_bytes", "must be at least 4KiB")
	}
	if c.Server.GCHeadroom < 0 {
		return bad("server.gc_headroom", "must not be negative (0 keeps the runtime's default)")
	}
	return validPrefixes("server.trusted_proxies", c.Server.TrustedProxies)
}

// validateStorage checks [storage] and, with it, [limits], whose room it bounds.
func (c *Config) validateStorage() error {
	if c.Storage.MinFree < 0 {
		return bad("storage.min_free", "must not be negative")
	}
	if c.Limits.IPv6Prefix < 32 || c.Limits.IPv6Prefix > 128 {
		return bad("limits.ipv6_prefix", "must be between 32 and 128")
	}
	if c.Limits.MaxConcurrentUploads < 0 || c.Limits.PerClientUploads < 0 || c.Limits.PerClientRate < 0 || c.Limits.MinUploadRate < 0 || c.Limits.DailyQuota < 0 {
		return bad("limits", "limits must not be negative (0 turns one off)")
	}
	switch c.Storage.Backend {
	case "local":
	case "s3":
		if err := c.Storage.S3.validate(); err != nil {
			return err
		}
		if c.Streaming.MemoryBudget < c.Storage.S3.PartSize+c.Streaming.MaxBuffer {
			return bad("streaming.memory_budget", "must hold at least one storage.s3.part_size and one streaming.max_buffer: part buffers come out of it")
		}
	default:
		return bad("storage.backend", "must be \"local\" or \"s3\"")
	}
	if c.Storage.Path == "" {
		return bad("storage.path", "must not be empty")
	}
	return nil
}

// validateResumable checks the [resumable] values that apply whether or not it is enabled.
func (c *Config) validateResumable() error {
	if c.Resumable.StaleAfter < Duration(100*time.Millisecond) || c.Resumable.StaleAfter > Duration(time.Hour) {
		return bad("resumable.stale_after", "must be between 100ms and 1h")
	}
	if c.Resumable.CheckpointBytes != 0 && c.Resumable.CheckpointBytes < MiB {
		return bad("resumable.checkpoint_bytes", "must be 0 (off) or at least 1MiB: every checkpoint syncs and records")
	}
	if c.Resumable.CheckpointInterval != 0 && c.Resumable.CheckpointInterval < Duration(100*time.Millisecond) {
		return bad("resumable.checkpoint_interval", "must be 0 (off) or at least 100ms: every checkpoint syncs and records")
	}
	return nil
}

func (c *Config) validateAuth() error {
	if c.Auth.Secret != "" && len(c.Auth.Secret) < MinSecretLength && !c.Auth.AllowShortSecret {
		return bad("auth.secret", "shorter than 32 bytes; use a longer secret or set auth.allow_short_secret = true")
	}
	for i, s := range c.Auth.PreviousSecrets {
		if s == "" {
			return bad("auth.previous_secrets", "contains an empty secret")
		}
		// A previous secret verifies signatures exactly as the current one does: a short one
		// is as guessable, whatever its place in the list.
		if len(s) < MinSecretLength && !c.Auth.AllowShortSecret {
			return bad("auth.previous_secrets", fmt.Sprintf("secret %d of the list is shorter than 32 bytes; use longer secrets or set auth.allow_short_secret = true", i+1))
		}
	}
	if c.Auth.MaxTokenLifetime < Duration(time.Minute) {
		return bad("auth.max_token_lifetime", "must be at least 1m (Prosody's tokens live 5m)")
	}
	return nil
}

// validateUpload checks [upload] and the resumable endpoint's place beside it.
func (c *Config) validateUpload() error {
	if err := validPrefix(c.Upload.Prefix); err != "" {
		return bad("upload.prefix", err)
	}
	if c.Resumable.Enabled {
		if err := validPrefix(c.Resumable.Prefix); err != "" {
			return bad("resumable.prefix", err)
		}
		if strings.HasPrefix(c.Resumable.Prefix, c.Upload.Prefix) || strings.HasPrefix(c.Upload.Prefix, c.Resumable.Prefix) {
			return bad("resumable.prefix", "must not overlap upload.prefix")
		}
		if c.Resumable.SessionTTL <= 0 {
			return bad("resumable.session_ttl", "must be positive")
		}
		if c.Resumable.ReapInterval <= 0 {
			return bad("resumable.reap_interval", "must be positive")
		}
	}
	if c.Upload.ReapInterval <= 0 {
		return bad("upload.reap_interval", "must be positive")
	}
	if c.Upload.MaxSize < 0 {
		return bad("upload.max_size", "must not be negative")
	}
	for _, e := range append(append([]string{}, c.Upload.AllowedExtensions...), c.Upload.DeniedExtensions...) {
		if strings.Trim(e, ".") == "" || strings.ContainsAny(e, "/\\") {
			return bad("upload.allowed_extensions", "extension "+`"`+e+`"`+" is not a file extension")
		}
	}
	return nil
}

func (c *Config) validateMetrics() error {
	if c.Metrics.Enabled && !strings.HasPrefix(c.Metrics.Path, "/") {
		return bad("metrics.path", "must start with /")
	}
	if c.Metrics.Listen != "" && !validHostPort(c.Metrics.Listen) {
		return bad("metrics.listen", "must be host:port, e.g. 127.0.0.1:9090")
	}
	if err := validPrefixes("metrics.allowed_networks", c.Metrics.AllowedNetworks); err != nil {
		return err
	}
	if c.Metrics.Enabled && strings.HasPrefix(c.Metrics.Path, c.Upload.Prefix) {
		return bad("metrics.path", "must not lie under upload.prefix")
	}
	return nil
}

func (c *Config) validateLog() error {
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return bad("log.level", "must be debug, info, warn or error")
	}
	switch c.Log.Format {
	case "auto", "json", "console":
	default:
		return bad("log.format", "must be auto, json or console")
	}
	if c.Log.FlushInterval < 0 || c.Log.FlushInterval.D() > time.Minute {
		return bad("log.flush_interval", "must be between 0 and 1m")
	}
	return nil
}

func (c *Config) validateAdmin() error {
	if c.Admin.Listen != "" && !validHostPort(c.Admin.Listen) {
		return bad("admin.listen", "must be host:port")
	}
	if c.Admin.Listen != "" && c.Admin.Listen == c.Server.Listen {
		return bad("admin.listen", "must differ from server.listen: the admin routes are never served on the public listener")
	}
	if _, err := c.Admin.ParsedTokens(); err != nil {
		return bad("admin.tokens", err.Error())
	}
	if c.Admin.Listen != "" && len(c.Admin.Tokens) == 0 {
		return bad("admin.tokens", "admin.listen is set but no token is (admin.tokens, FILESERVER_ADMIN_TOKEN or FILESERVER_ADMIN_TOKEN_FILE)")
	}
	if c.Admin.SessionTTL.D() < time.Minute {
		return bad("admin.session_ttl", "must be at least 1m")
	}
	if c.Admin.CountFlush.D() < 100*time.Millisecond || c.Admin.CountFlush.D() > time.Hour {
		return bad("admin.count_flush", "must be between 100ms and 1h")
	}
	return nil
}

func (c *Config) validateScan() error {
	if c.Scan.OnUnreachable != "refuse" && c.Scan.OnUnreachable != "accept" {
		return bad("scan.on_unreachable", `must be "refuse" or "accept"`)
	}
	if c.Scan.MaxSize < 0 {
		return bad("scan.max_size", "must not be negative")
	}
	if c.Scan.Timeout.D() < time.Second {
		return bad("scan.timeout", "must be at least 1s")
	}
	if c.Scan.Clamd == "" {
		return nil
	}
	if _, _, err := c.Scan.Address(); err != nil {
		return bad("scan.clamd", err.Error())
	}
	return nil
}

func (c *Config) validateThumbnails() error {
	t := c.Thumbnails
	for _, s := range t.Sizes {
		if s < 16 || s > 2048 {
			return bad("thumbnails.sizes", "each must be between 16 and 2048")
		}
	}
	if t.Enabled && len(t.Sizes) == 0 {
		return bad("thumbnails.sizes", "must name at least one size when thumbnails are enabled")
	}
	if t.MaxPixels < 1 || t.MaxPixels > 1_000_000_000 {
		return bad("thumbnails.max_pixels", "must be between 1 and 1000000000")
	}
	if t.Timeout.D() < 100*time.Millisecond {
		return bad("thumbnails.timeout", "must be at least 100ms")
	}
	if t.Concurrency < 1 || t.Concurrency > 64 {
		return bad("thumbnails.concurrency", "must be between 1 and 64")
	}
	if t.Keep < 0 || t.Keep > 0 && t.Keep < Duration(time.Hour) {
		return bad("thumbnails.keep", "must be 0 (until the file is removed) or at least 1h")
	}
	return nil
}

func validPrefix(p string) string {
	if !strings.HasPrefix(p, "/") || !strings.HasSuffix(p, "/") || len(p) < 3 {
		return "must start and end with / and name a path, e.g. /upload/"
	}
	if strings.Contains(p, "//") || strings.ContainsAny(p, "?#%\\") || strings.Contains(p, "/../") || strings.Contains(p, "/./") {
		return "must be a plain path without //, ., .., %, ?, # or \\"
	}
	return ""
}

// validate checks [streaming]: buffer bounds within the pool's size classes, a budget that
// holds at least one of the largest buffers, and known policy names.
func (s *Streaming) validate() error {
	bad := func(key, reason string) error { return &Error{Key: "streaming." + key, Reason: reason} }
	for _, b := range []struct {
		key string
		v   Size
	}{{"min_buffer", s.MinBuffer}, {"max_buffer", s.MaxBuffer}, {"buffer_size", s.BufferSize}} {
		if b.v < 16*KiB || b.v > 4*MiB {
			return bad(b.key, "must be between 16KiB and 4MiB")
		}
	}
	if s.MinBuffer > s.MaxBuffer {
		return bad("min_buffer", "must not exceed max_buffer")
	}
	if s.BufferSize < s.MinBuffer || s.BufferSize > s.MaxBuffer {
		return bad("buffer_size", "must lie between min_buffer and max_buffer")
	}
	if s.MemoryBudget < s.MaxBuffer {
		return bad("memory_budget", "must hold at least one max_buffer (and many more for concurrent transfers)")
	}
	switch s.OnBudgetExhausted {
	case "wait", "downgrade", "refuse":
	default:
		return bad("on_budget_exhausted", "must be wait, downgrade or refuse")
	}
	if s.BudgetWait < 0 {
		return bad("budget_wait", "must not be negative")
	}
	switch s.ChunkPolicy {
	case "fixed", "adaptive":
	default:
		return bad("chunk_policy", "must be fixed or adaptive")
	}
	if s.ChunkTarget <= 0 {
		return bad("chunk_target", "must be positive, e.g. 10s")
	}
	if s.MinChunk < 64*KiB {
		return bad("min_chunk", "must be at least 64KiB")
	}
	if s.MinChunk > s.MaxChunk {
		return bad("min_chunk", "must not exceed max_chunk")
	}
	if s.ProfileTTL <= 0 {
		return bad("profile_ttl", "must be positive, e.g. 1h")
	}
	return nil
}

// validate checks [download]: cache bounds that are either off or make sense together.
func (d *Download) validate() error {
	bad := func(key, reason string) error { return &Error{Key: "download." + key, Reason: reason} }
	// Negative sizes and durations do not parse.
	if d.SmallFileMax > 16*MiB {
		return bad("small_file_max", "must be between 0 and 16MiB")
	}
	if d.SmallFileCache > 0 && d.SmallFileMax > d.SmallFileCache {
		return bad("small_file_max", "must not exceed small_file_cache")
	}
	if d.OpenFiles < 0 || d.OpenFiles > 65536 {
		return bad("open_files", "must be between 0 and 65536")
	}
	if d.Revalidate <= 0 || d.Revalidate.D() > time.Minute {
		return bad("revalidate", "must be positive and at most 1m: a file another process removed is served until then")
	}
	return nil
}

// validate checks [storage.s3] for the s3 backend: where the bucket is, and credentials given
// one way each.
func (s *S3) validate() error {
	bad := func(key, reason string) error { return &Error{Key: "storage.s3." + key, Reason: reason} }
	if s.Endpoint == "" {
		return bad("endpoint", "must be set with storage.backend = \"s3\", e.g. https://s3.eu-central-1.amazonaws.com or http://127.0.0.1:7070")
	}
	if !validEndpoint(s.Endpoint) {
		return bad("endpoint", "must be http://host[:port] or https://host[:port], without a path (the bucket is storage.s3.bucket)")
	}
	if s.Bucket == "" {
		return bad("bucket", "must be set with storage.backend = \"s3\"")
	}
	if err := s.validateKeys(); err != nil {
		return err
	}
	if strings.HasPrefix(s.Prefix, "/") {
		return bad("prefix", "must not start with / (object keys are prefix + file name)")
	}
	if s.PartSize < 5*MiB || s.PartSize > 5*GiB {
		return bad("part_size", "must be between 5MiB and 5GiB (S3's limits on a part)")
	}
	if s.Concurrency < 1 || s.Concurrency > 64 {
		return bad("concurrency", "must be between 1 and 64")
	}
	if s.RedirectExpiry < Duration(time.Second) || s.RedirectExpiry > Duration(7*24*time.Hour) {
		return bad("redirect_expiry", "must be between 1s and 168h (S3's longest presigned URL)")
	}
	if s.PublicEndpoint != "" && !validEndpoint(s.PublicEndpoint) {
		return bad("public_endpoint", "must be http://host[:port] or https://host[:port], without a path")
	}
	return nil
}

// validateKeys checks the credentials: each given once, as a value or a file, and both or
// neither (anonymous access).
func (s *S3) validateKeys() error {
	bad := func(key, reason string) error { return &Error{Key: "storage.s3." + key, Reason: reason} }
	if s.AccessKey != "" && s.AccessKeyFile != "" {
		return bad("access_key_file", "set access_key or access_key_file, not both")
	}
	if s.SecretKey != "" && s.SecretKeyFile != "" {
		return bad("secret_key_file", "set secret_key or secret_key_file, not both")
	}
	if (s.AccessKey != "" || s.AccessKeyFile != "") != (s.SecretKey != "" || s.SecretKeyFile != "") {
		return bad("secret_key", "access and secret key must be set together (or neither, for anonymous access)")
	}
	return nil
}

// validEndpoint reports whether v is an http(s) URL of a host, without path or query.
func validEndpoint(v string) bool {
	u, err := url.Parse(v)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		(u.Path == "" || u.Path == "/") && u.RawQuery == ""
}

// validate checks [sessions]: a store that exists, and no embedded sessions on storage shared
// by several nodes, where an upload started on one node could not continue on another.
func (s *Sessions) validate(c *Config) error {
	bad := func(key, reason string) error { return &Error{Key: "sessions." + key, Reason: reason} }
	switch s.Store {
	case "local":
		if c.Storage.Backend == "s3" && c.Resumable.Enabled && !s.SingleNode {
			return bad("store", `"local" keeps resumable uploads on this node only, but storage.backend = "s3" is meant to be shared by several nodes: `+
				`set sessions.store = "redis" (with sessions.redis_url) for several nodes, or sessions.single_node = true if this is the only one`)
		}
	case "redis":
		if s.RedisURL == "" {
			return bad("redis_url", `must be set with sessions.store = "redis", e.g. redis://127.0.0.1:6379/0`)
		}
		u, err := url.Parse(s.RedisURL)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
			return bad("redis_url", "must be redis://host:port[/db], rediss://host:port[/db] or unix:///path")
		}
	default:
		return bad("store", `must be "local" or "redis"`)
	}
	if s.LockLease < Duration(time.Second) || s.LockLease > Duration(5*time.Minute) {
		return bad("lock_lease", "must be between 1s and 5m")
	}
	return nil
}

// ParsePrefix reads an address ("192.0.2.1", "::1") or a CIDR ("10.0.0.0/8") as a prefix.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an address or CIDR", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or CIDR", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}
