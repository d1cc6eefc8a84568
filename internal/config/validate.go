package config

import (
	"net"
	"net/url"
	"strings"
)

// MinSecretLength is the shortest secret accepted unless auth.allow_short_secret is set.
const MinSecretLength = 32

// Validate checks values that each parse but may still be wrong or inconsistent. An empty
// auth.secret is valid here: serve generates one.
func (c *Config) Validate() error {
	bad := func(key, reason string) error { return &Error{Key: key, Reason: reason} }

	if _, port, err := net.SplitHostPort(c.Server.Listen); err != nil || port == "" {
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
	switch c.Storage.Backend {
	case "local":
	default:
		return bad("storage.backend", "must be \"local\"")
	}
	if c.Storage.Path == "" {
		return bad("storage.path", "must not be empty")
	}
	if c.Auth.Secret != "" && len(c.Auth.Secret) < MinSecretLength && !c.Auth.AllowShortSecret {
		return bad("auth.secret", "shorter than 32 bytes; use a longer secret or set auth.allow_short_secret = true")
	}
	for _, s := range c.Auth.PreviousSecrets {
		if s == "" {
			return bad("auth.previous_secrets", "contains an empty secret")
		}
	}
	if err := validPrefix(c.Upload.Prefix); err != "" {
		return bad("upload.prefix", err)
	}
	if c.Upload.MaxSize < 0 {
		return bad("upload.max_size", "must not be negative")
	}
	for _, e := range append(append([]string{}, c.Upload.AllowedExtensions...), c.Upload.DeniedExtensions...) {
		if strings.Trim(e, ".") == "" || strings.ContainsAny(e, "/\\") {
			return bad("upload.allowed_extensions", "extension "+`"`+e+`"`+" is not a file extension")
		}
	}
	if c.Streaming.BufferSize < 4*KiB || c.Streaming.BufferSize > 64*MiB {
		return bad("streaming.buffer_size", "must be between 4KiB and 64MiB")
	}
	if c.Metrics.Enabled && !strings.HasPrefix(c.Metrics.Path, "/") {
		return bad("metrics.path", "must start with /")
	}
	if c.Metrics.Enabled && strings.HasPrefix(c.Metrics.Path, c.Upload.Prefix) {
		return bad("metrics.path", "must not lie under upload.prefix")
	}
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
