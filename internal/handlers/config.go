package handlers

import (
	"net/netip"
	"time"
)

// Config is what the handlers are told of the server's configuration, built from the
// configuration file in one place (internal/app): the URL layout, the limits, the timeouts
// and the policies. Sizes are bytes and durations plain; zero turns a limit off.
type Config struct {
	// UploadPrefix is where files are uploaded and served (upload.prefix, "/upload/").
	UploadPrefix string
	// ResumablePrefix is the resumable endpoint (resumable.prefix, "/files/"), served when
	// Options.Uploads is set.
	ResumablePrefix string
	// MaxSize caps an upload (upload.max_size); MaxSizeText is it as the configuration
	// writes it, for the 413's message.
	MaxSize     int64
	MaxSizeText string
	// AllowedExtensions and DeniedExtensions filter uploads by file name.
	AllowedExtensions, DeniedExtensions []string
	// ReadIdleTimeout ends an upload whose client sends nothing for that long;
	// WriteIdleTimeout a download whose client reads nothing.
	ReadIdleTimeout, WriteIdleTimeout time.Duration
	// SessionTTL is how long an unfinished resumable upload lives (Upload-Limit's max-age).
	SessionTTL time.Duration
	// ClockSkew is allowed on a signed URL's expiry.
	ClockSkew time.Duration
	// PublicURL starts every link when set; else links name the listen address.
	PublicURL string
	// Listen is the configured listen address, for links when Options.Listen is empty.
	Listen string
	// TrustedProxies are the reverse proxies whose forwarding headers are believed.
	TrustedProxies []netip.Prefix
	// HSTSMaxAge is Strict-Transport-Security's max-age on HTTPS responses; 0 sends none.
	HSTSMaxAge time.Duration
	// CORS says which web origins may read responses.
	CORS CORS
	// Cache is what downloads keep in memory and open.
	Cache Cache
	// Limits bound what each client and all clients together may upload at once.
	Limits Limits
	// RedirectDownloads sends downloads to the store's presigned URLs (when the store offers
	// them), valid for RedirectExpiry; files up to Cache.SmallFileMax are still served here.
	RedirectDownloads bool
	RedirectExpiry    time.Duration
	// MetricsPath is where Options.Metrics is served on this listener ("": not here), to
	// MetricsNetworks only when that is not empty.
	MetricsPath     string
	MetricsNetworks []netip.Prefix
}

// CORS is the cross-origin policy.
type CORS struct {
	Enabled bool
	// AllowedOrigins are origins, or "*" for any.
	AllowedOrigins []string
	// MaxAge is how long a browser may keep a preflight's answer.
	MaxAge time.Duration
}

// Cache bounds the downloads cache: small files kept in memory, and open handles kept for
// files downloaded again, both checked against the disk every Revalidate.
type Cache struct {
	SmallFileCache, SmallFileMax int64
	OpenFiles                    int
	Revalidate                   time.Duration
}

// Limits are the upload limits applied before a handler runs.
type Limits struct {
	// MaxConcurrentUploads in all, and PerClientUploads from one client address.
	MaxConcurrentUploads, PerClientUploads int
	// PerClientRate is upload requests per second from one client address.
	PerClientRate float64
	// MinUploadRate is the bytes per second below which an upload is cut off, after
	// MinRateGrace.
	MinUploadRate int64
	MinRateGrace  time.Duration
	// IPv6Prefix is how many leading bits of an IPv6 address make one client (0: 128).
	IPv6Prefix int
}
