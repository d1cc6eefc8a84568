package handlers_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"fileserver/internal/config"
)

// Browsers (Converse.js) must be able to read every response, errors included (docs/clients.md, "CORS").
func TestCORSAnyOriginOnEveryResponse(t *testing.T) {
	ts := uploaded(t, "c.bin", []byte("cors"))
	origin := []string{"Origin", "https://chat.example"}
	tests := []struct {
		name string
		req  *http.Request
		want int
	}{
		{"201", request(t, http.MethodPut, ts.v1URL("n.bin", 3), strings.NewReader("abc"), origin...), http.StatusCreated},
		{"200", request(t, http.MethodGet, ts.fileURL("c.bin"), nil, origin...), http.StatusOK},
		{"HEAD", request(t, http.MethodHead, ts.fileURL("c.bin"), nil, origin...), http.StatusOK},
		{"403", request(t, http.MethodPut, ts.fileURL("x.bin"), strings.NewReader("abc"), origin...), http.StatusForbidden},
		{"404", request(t, http.MethodGet, ts.fileURL("missing.bin"), nil, origin...), http.StatusNotFound},
		{"409", request(t, http.MethodPut, ts.v1URL("c.bin", 3), strings.NewReader("abc"), origin...), http.StatusConflict},
		{"no Origin header", request(t, http.MethodGet, ts.fileURL("c.bin"), nil), http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, tt.req)
			wantStatus(t, resp, body, tt.want)
			if acao := resp.Header.Get("Access-Control-Allow-Origin"); acao != "*" {
				t.Errorf("Access-Control-Allow-Origin %q, want *", acao)
			}
			exposed := resp.Header.Get("Access-Control-Expose-Headers")
			for _, h := range []string{"Content-Length", "Content-Range", "Content-Type", "Content-Disposition", "Location", "ETag"} {
				if !slices.Contains(splitList(exposed), h) {
					t.Errorf("Access-Control-Expose-Headers %q lacks %s", exposed, h)
				}
			}
		})
	}
}

func TestCORSListedOrigin(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) { c.CORS.AllowedOrigins = []string{"https://a.example"} })
	tests := []struct {
		origin, wantACAO string
	}{
		{"https://a.example", "https://a.example"},
		{"https://b.example", ""},
		{"https://a.example.evil", ""},
	}
	for _, tt := range tests {
		t.Run(tt.origin, func(t *testing.T) {
			resp, body := get(t, ts.fileURL("missing"), "Origin", tt.origin)
			wantStatus(t, resp, body, http.StatusNotFound)
			if acao := resp.Header.Get("Access-Control-Allow-Origin"); acao != tt.wantACAO {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", acao, tt.wantACAO)
			}
			if !slices.Contains(splitList(strings.Join(resp.Header.Values("Vary"), ",")), "Origin") {
				t.Errorf("Vary %q lacks Origin", resp.Header.Values("Vary"))
			}
		})
	}
}

// A preflight needs no auth and allows the upload methods and the request's headers; its 204
// carries no body on the wire.
func TestCORSPreflight(t *testing.T) {
	ts := newTestServer(t)
	rc := ts.dial(t)
	rc.write(rawRequest(http.MethodOptions, "/upload/slot/new%20file.jpg",
		"Origin", "https://chat.example",
		"Access-Control-Request-Method", "PUT",
		"Access-Control-Request-Headers", "content-type, x-custom-thing"))
	rc.write(rawRequest(http.MethodGet, "/healthz"))
	resp, body := rc.readResponse(http.MethodOptions)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("preflight status %d (%q), want 204", resp.StatusCode, body)
	}
	methods := splitList(resp.Header.Get("Access-Control-Allow-Methods"))
	for _, m := range []string{"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"} {
		if !slices.Contains(methods, m) {
			t.Errorf("Access-Control-Allow-Methods %q lacks %s", methods, m)
		}
	}
	allowed := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers"))
	for _, h := range []string{"content-type", "x-custom-thing"} {
		if !slices.Contains(splitList(allowed), h) {
			t.Errorf("Access-Control-Allow-Headers %q lacks %s", allowed, h)
		}
	}
	if resp.Header.Get("Access-Control-Allow-Origin") == "" {
		t.Error("preflight without Access-Control-Allow-Origin")
	}
	if resp.Header.Get("Access-Control-Max-Age") == "" {
		t.Error("preflight without Access-Control-Max-Age")
	}
	// If the 204 had carried a body, this response would not parse.
	next, nb := rc.readResponse(http.MethodGet)
	if next.StatusCode != http.StatusOK || string(nb) != "ok\n" {
		t.Fatalf("request after the 204: status %d body %q", next.StatusCode, nb)
	}
}

func TestCORSDisabled(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) { c.CORS.Enabled = false })
	for _, req := range []*http.Request{
		request(t, http.MethodGet, ts.fileURL("missing"), nil, "Origin", "https://chat.example"),
		request(t, http.MethodOptions, ts.fileURL("x"), nil, "Origin", "https://chat.example", "Access-Control-Request-Method", "PUT"),
	} {
		resp, _ := do(t, req)
		for k := range resp.Header {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("%s with CORS off: header %s: %q", req.Method, k, resp.Header.Get(k))
			}
		}
	}
}

// splitList splits a comma-separated header value into trimmed items.
func splitList(v string) []string {
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
