package handlers

import (
	"net/http"
	"net/url"
	"strings"

	"fileserver/internal/storage"
)

// fileName is the stored name a request addresses: the URL path after the upload prefix,
// percent-decoded once (Go's r.URL.Path; '+' stays '+'). Encoded slashes, backslashes and
// NULs are refused outright: no legitimate client sends them, and a decoded name must mean
// the same object as the path the client signed (DESIGN.md "Paths").
func (s *Server) fileName(r *http.Request) (string, error) {
	if err := checkEscapes(r); err != nil {
		return "", err
	}
	name, ok := strings.CutPrefix(r.URL.Path, s.cfg.Upload.Prefix)
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

// baseURL is the scheme and host clients reach this server at: server.public_url, or what
// the request itself used.
func (s *Server) baseURL(r *http.Request) string {
	if base := strings.TrimRight(s.cfg.Server.PublicURL, "/"); base != "" {
		return base
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// downloadURL is the absolute URL a stored name is served at.
func (s *Server) downloadURL(r *http.Request, name string) string {
	return s.baseURL(r) + s.cfg.Upload.Prefix + EscapeName(name)
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
	base := strings.ToLower(name[strings.LastIndexByte(name, '/')+1:])
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
