package handlers

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"

	"fileserver/internal/storage"
)

// fileName is the stored name a request addresses: the URL path after the upload prefix,
// percent-decoded once (Go's r.URL.Path; '+' stays '+'). Encoded slashes, backslashes and
// NULs are refused outright: no legitimate client sends them, and a decoded name must mean
// the same object as the path the client signed.
func (s *core) fileName(r *http.Request) (string, error) {
	if err := checkEscapes(r); err != nil {
		return "", err
	}
	name, ok := strings.CutPrefix(r.URL.Path, s.cfg.UploadPrefix)
	if !ok {
		return "", errorf(http.StatusNotFound, "not found")
	}
	if err := storage.ValidName(name); err != nil {
		return "", errorf(http.StatusBadRequest, "invalid file path")
	}
	return name, nil
}

// checkEscapes refuses a request path with an encoded slash, backslash or NUL.
func checkEscapes(r *http.Request) error {
	raw := strings.ToLower(r.URL.EscapedPath())
	if strings.Contains(raw, "%2f") || strings.Contains(raw, "%5c") || strings.Contains(raw, "%00") {
		return errorf(http.StatusBadRequest, "invalid file path")
	}
	return nil
}

// EscapeName percent-encodes each segment of a name for a URL path (RFC 3986).
func EscapeName(name string) string {
	segs := strings.Split(name, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// baseURL is the scheme and host of the links the server hands out (Location, a POST's
// JSON url, upload URLs): server.public_url or, when that is empty, the address it listens
// on. Never the request's Host header: the client picks that, and could plant another host
// in links that chat clients store and share.
func (s *core) baseURL(r *http.Request) string {
	if s.publicURL != "" {
		return s.publicURL
	}
	if r.TLS != nil {
		return "https://" + s.linkHost
	}
	return "http://" + s.linkHost
}

// LinkHost is the host:port that links name when server.public_url is empty, for a server
// listening on listen: that address, or this machine's host name in place of an unspecified
// one (0.0.0.0, ::). loopback says whether only this machine can reach it; otherwise links
// built from it are a guess that public_url should replace.
func LinkHost(listen string) (hostport string, loopback bool) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen, false
	}
	if host == "localhost" {
		return listen, true
	}
	ip, err := netip.ParseAddr(host)
	switch {
	case err == nil && ip.IsLoopback():
		return listen, true
	case host == "" || err == nil && ip.IsUnspecified():
		name, err := os.Hostname()
		if err != nil || name == "" {
			name = "localhost"
		}
		return net.JoinHostPort(name, port), false
	}
	return listen, false
}

// downloadURL is the absolute URL a stored name is served at.
func (s *core) downloadURL(r *http.Request, name string) string {
	return s.baseURL(r) + s.cfg.UploadPrefix + EscapeName(name)
}

// extensionPolicy decides which file extensions may be uploaded.
type extensionPolicy struct {
	allowed, denied []string // lowercase, with a leading dot
}

func normalizeExts(in []string) []string {
	out := make([]string, 0, len(in))
	for _, e := range in {
		e = strings.ToLower(strings.TrimSpace(e))
		if !strings.HasPrefix(e, ".") {
			e = "." + e
		}
		out = append(out, e)
	}
	return out
}

func newExtensionPolicy(allowed, denied []string) extensionPolicy {
	return extensionPolicy{allowed: normalizeExts(allowed), denied: normalizeExts(denied)}
}

// permits reports whether the file name's extension may be uploaded. Multi-part extensions
// like ".tar.gz" match by suffix; the name must have something before the extension.
func (p extensionPolicy) permits(name string) bool {
	// Trailing dots and spaces go: Windows drops them when it saves a download, so
	// "evil.exe. " lands on disk as "evil.exe".
	base := strings.TrimRight(strings.ToLower(name[strings.LastIndexByte(name, '/')+1:]), ". ")
	has := func(list []string) bool {
		for _, e := range list {
			if len(base) > len(e) && strings.HasSuffix(base, e) {
				return true
			}
		}
		return false
	}
	if has(p.denied) {
		return false
	}
	return len(p.allowed) == 0 || has(p.allowed)
}

// DownloadURL is the public link of a stored name, for the admin API: as downloadURL, with
// http:// when server.public_url is empty (the admin listener has no request of a client).
func (s *Server) DownloadURL(name string) string {
	base := s.publicURL
	if base == "" {
		base = "http://" + s.linkHost
	}
	return base + s.cfg.UploadPrefix + EscapeName(name)
}
