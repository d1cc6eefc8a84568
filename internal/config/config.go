package config

import "time"

// Config is the whole server configuration. Field doc comments are the user documentation;
// config-adaptive.toml repeats them next to each key with its default.
type Config struct {
	Server    Server    `toml:"server"`
	Storage   Storage   `toml:"storage"`
	Auth      Auth      `toml:"auth"`
	Upload    Upload    `toml:"upload"`
	Download  Download  `toml:"download"`
	Streaming Streaming `toml:"streaming"`
	CORS      CORS      `toml:"cors"`
	Metrics   Metrics   `toml:"metrics"`
	Log       Log       `toml:"log"`
}

// Server configures the HTTP listener.
type Server struct {
	// Listen is the TCP address to serve on, host:port.
	Listen string `toml:"listen"`
	// PublicURL is the scheme://host[:port] clients reach this server at; download URLs
	// returned to clients start with it. Empty means derive it from each request's Host.
	PublicURL string `toml:"public_url"`
	// ReadHeaderTimeout bounds how long a client may take to send request headers.
	ReadHeaderTimeout Duration `toml:"read_header_timeout"`
	// IdleTimeout closes keep-alive connections idle for longer than this.
	IdleTimeout Duration `toml:"idle_timeout"`
	// ShutdownTimeout is how long in-flight transfers may drain after SIGTERM.
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	// MaxHeaderBytes caps the size of request headers.
	MaxHeaderBytes Size `toml:"max_header_bytes"`
	// TLSCert and TLSKey are PEM files; when both are set the server terminates TLS itself
	// (HTTP/2 on) and reloads them when they change on disk.
	TLSCert string `toml:"tls_cert"`
	// TLSKey is the private key matching TLSCert.
	TLSKey string `toml:"tls_key"`
}

// Storage configures where files live.
type Storage struct {
	// Backend is the storage kind; "local" (a directory on local disk).
	Backend string `toml:"backend"`
	// Path is the data directory for the local backend. It is created if missing.
	Path string `toml:"path"`
	// Fsync makes every upload durable (file and directory synced) before its 201.
	Fsync bool `toml:"fsync"`
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
	// AllowShortSecret permits secrets shorter than 32 bytes (not recommended).
	AllowShortSecret bool `toml:"allow_short_secret"`
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
	// ReadIdleTimeout cuts off an upload whose client sends nothing for this long, so a stalled
	// client cannot pin a buffer forever. 0 disables it.
	ReadIdleTimeout Duration `toml:"read_idle_timeout"`
}

// Download configures GET and HEAD.
type Download struct {
	// WriteIdleTimeout cuts off a download whose client reads nothing for this long. 0 disables it.
	WriteIdleTimeout Duration `toml:"write_idle_timeout"`
}

// Streaming configures the StreamingEngine every byte passes through.
type Streaming struct {
	// BufferSize is the copy buffer of each transfer.
	BufferSize Size `toml:"buffer_size"`
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
	// Path is where metrics are served on the main listener.
	Path string `toml:"path"`
}

// Log configures logging.
type Log struct {
	// Level is one of debug, info, warn, error.
	Level string `toml:"level"`
	// Format is json, console, or auto (console on a terminal, json otherwise).
	Format string `toml:"format"`
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
		},
		Storage: Storage{Backend: "local", Path: "./data", Fsync: true},
		Auth:    Auth{ClockSkew: Duration(30 * time.Second)},
		Upload: Upload{
			Prefix:          "/upload/",
			MaxSize:         1 * GiB,
			ReadIdleTimeout: Duration(60 * time.Second),
		},
		Download:  Download{WriteIdleTimeout: Duration(60 * time.Second)},
		Streaming: Streaming{BufferSize: 1 * MiB},
		CORS:      CORS{Enabled: true, AllowedOrigins: []string{"*"}, MaxAge: Duration(24 * time.Hour)},
		Metrics:   Metrics{Enabled: true, Path: "/metrics"},
		Log:       Log{Level: "info", Format: "auto"},
	}
}
