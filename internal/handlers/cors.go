package handlers

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Headers browsers may read from our responses: the download ones and those of resumable
// uploads (tus and the IETF draft).
const exposedHeaders = "Content-Length, Content-Range, Content-Type, Content-Disposition, Location, ETag, " +
	"Last-Modified, Accept-Ranges, X-Request-Id, Upload-Offset, Upload-Length, Upload-Complete, " +
	"Upload-Incomplete, Upload-Limit, Upload-Expires, Upload-Metadata, Upload-Concat, Tus-Version, " +
	"Tus-Resumable, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm"

const allowedMethods = "GET, HEAD, PUT, POST, PATCH, DELETE, OPTIONS"

const defaultAllowedHeaders = "Authorization, Content-Type, Expires, Range, If-Range, If-None-Match, " +
	"If-Match, If-Modified-Since, Upload-Offset, Upload-Length, Upload-Complete, Upload-Incomplete, " +
	"Upload-Metadata, Upload-Concat, Upload-Defer-Length, Upload-Checksum, Upload-Draft-Interop-Version, " +
	"Tus-Resumable, X-Request-Id"

// cors adds CORS headers to every response, errors included, and answers preflights without
// auth (docs/clients.md, "CORS"). With CORS off, OPTIONS still answers 204 with Allow. OPTIONS under
// the ownOptions prefix (the resumable endpoint, "" for none) goes on to its own handler.
// The path private (metrics, "" for none) never gets CORS headers: no web page may read it
// from a visitor's browser.
func cors(c CORS, ownOptions, private string) func(http.Handler) http.Handler {
	anyOrigin := false
	// allowed maps each allowed origin to its Access-Control-Allow-Origin value, built once.
	allowed := map[string][]string{}
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			anyOrigin = true
		}
		o = strings.TrimRight(o, "/")
		allowed[o] = []string{o}
	}
	delete(allowed, "") // a request without Origin is never an allowed one
	maxAge := strconv.Itoa(int(c.MaxAge.Seconds()))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if private != "" && r.URL.Path == private {
				next.ServeHTTP(w, r)
				return
			}
			h := w.Header()
			originOK := false
			if c.Enabled {
				if anyOrigin {
					h["Access-Control-Allow-Origin"] = anyOriginValue
					originOK = true
				} else if v := allowed[headerValue(r.Header, "Origin")]; v != nil {
					h["Access-Control-Allow-Origin"] = v
					addVaryOrigin(h)
					originOK = true
				} else {
					addVaryOrigin(h)
				}
				if originOK {
					h["Access-Control-Expose-Headers"] = exposedHeadersValue
				}
			}
			if r.Method == http.MethodOptions {
				h.Set("Allow", allowedMethods)
				if originOK && r.Header.Get("Access-Control-Request-Method") != "" {
					h.Set("Access-Control-Allow-Methods", allowedMethods)
					if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
						h.Set("Access-Control-Allow-Headers", req)
					} else {
						h.Set("Access-Control-Allow-Headers", defaultAllowedHeaders)
					}
					h.Set("Access-Control-Max-Age", maxAge)
				}
				if ownOptions == "" || !strings.HasPrefix(r.URL.Path, strings.TrimSuffix(ownOptions, "/")) {
					w.WriteHeader(http.StatusNoContent)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Header values set on every response, built once: these slices are shared, never changed
// in place (net/http only reads them, and Add would copy since len == cap).
var (
	anyOriginValue      = []string{"*"}
	varyOriginValue     = []string{"Origin"}
	exposedHeadersValue = []string{exposedHeaders}
	nosniffValue        = []string{"nosniff"}
	cspValue            = []string{"default-src 'none'; frame-ancestors 'none'"}
	referrerValue       = []string{"no-referrer"}
)

// addVaryOrigin is h.Add("Vary", "Origin") without a new slice when Vary is not set yet.
func addVaryOrigin(h http.Header) {
	if len(h["Vary"]) == 0 {
		h["Vary"] = varyOriginValue
		return
	}
	h.Add("Vary", "Origin")
}

// securityHeaders keeps browsers from sniffing or running anything we serve and, on the
// connections we encrypt ourselves, from ever talking to us in plain http again (HSTS, RFC
// 6797; hstsMaxAge 0 sends none).
func securityHeaders(hstsMaxAge time.Duration) func(http.Handler) http.Handler {
	var hsts []string
	if secs := int64(hstsMaxAge / time.Second); secs > 0 {
		hsts = []string{"max-age=" + strconv.FormatInt(secs, 10)}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h["X-Content-Type-Options"] = nosniffValue
			h["Content-Security-Policy"] = cspValue
			h["Referrer-Policy"] = referrerValue
			if r.TLS != nil && hsts != nil {
				h["Strict-Transport-Security"] = hsts
			}
			next.ServeHTTP(w, r)
		})
	}
}
