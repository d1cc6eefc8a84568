package handlers_test

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"fileserver/internal/config"
)

// Missing files are a short text/plain 404, never an HTML page a client would save as the
// file (docs/clients.md, "Error bodies").
func TestDownloadUnknownIs404PlainText(t *testing.T) {
	ts := newTestServer(t)
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		resp, body := do(t, request(t, method, ts.fileURL("nope/missing.jpg"), nil))
		wantStatus(t, resp, body, http.StatusNotFound)
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("%s: Content-Type %q, want text/plain", method, ct)
		}
		if len(body) > 100 || bytes.Contains(body, []byte("<")) {
			t.Errorf("%s: body %q is not a short plain message", method, body)
		}
		if method == http.MethodHead && len(body) != 0 {
			t.Errorf("HEAD 404 carried a body")
		}
		if cd := resp.Header.Get("Content-Disposition"); cd != "" {
			t.Errorf("%s: 404 with Content-Disposition %q", method, cd)
		}
	}
}

func TestDownloadRanges(t *testing.T) {
	body := pattern(100, 11)
	ts := uploaded(t, "r.bin", body)
	n := strconv.Itoa(len(body))
	tests := []struct {
		rng          string
		want         int
		contentRange string
		part         []byte
	}{
		{"bytes=0-1", http.StatusPartialContent, "bytes 0-1/" + n, body[0:2]},
		{"bytes=10-19", http.StatusPartialContent, "bytes 10-19/" + n, body[10:20]},
		{"bytes=-5", http.StatusPartialContent, "bytes 95-99/" + n, body[95:]},
		{"bytes=10-", http.StatusPartialContent, "bytes 10-99/" + n, body[10:]},
		{"bytes=90-500", http.StatusPartialContent, "bytes 90-99/" + n, body[90:]},
		{"bytes=100-", http.StatusRequestedRangeNotSatisfiable, "bytes */" + n, nil},
		{"bytes=500-600", http.StatusRequestedRangeNotSatisfiable, "bytes */" + n, nil},
	}
	for _, tt := range tests {
		t.Run(tt.rng, func(t *testing.T) {
			resp, got := get(t, ts.fileURL("r.bin"), "Range", tt.rng)
			wantStatus(t, resp, got, tt.want)
			if cr := resp.Header.Get("Content-Range"); cr != tt.contentRange {
				t.Errorf("Content-Range %q, want %q", cr, tt.contentRange)
			}
			if tt.want != http.StatusPartialContent {
				return
			}
			if !bytes.Equal(got, tt.part) {
				t.Errorf("got %v, want %v", got, tt.part)
			}
			if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(tt.part)) {
				t.Errorf("Content-Length %q, want %d", cl, len(tt.part))
			}
		})
	}
}

func TestDownloadMultiRange(t *testing.T) {
	body := pattern(100, 12)
	ts := uploaded(t, "m.bin", body)
	resp, got := get(t, ts.fileURL("m.bin"), "Range", "bytes=0-1,10-12")
	wantStatus(t, resp, got, http.StatusPartialContent)
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" {
		t.Fatalf("Content-Type %q, want multipart/byteranges", resp.Header.Get("Content-Type"))
	}
	if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(got)) {
		t.Errorf("Content-Length %q for a %d-byte body", cl, len(got))
	}
	mr := multipart.NewReader(bytes.NewReader(got), params["boundary"])
	want := []struct {
		cr   string
		data []byte
	}{{"bytes 0-1/100", body[0:2]}, {"bytes 10-12/100", body[10:13]}}
	for i, w := range want {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		data, _ := io.ReadAll(p)
		if p.Header.Get("Content-Range") != w.cr || !bytes.Equal(data, w.data) {
			t.Errorf("part %d: Content-Range %q data %v, want %q %v", i, p.Header.Get("Content-Range"), data, w.cr, w.data)
		}
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("more than two parts: %v", err)
	}
}

// Conditional requests follow RFC 9110 §13 on a strong ETag.
func TestDownloadConditionals(t *testing.T) {
	body := pattern(64, 13)
	ts := uploaded(t, "c.bin", body)
	first, _ := get(t, ts.fileURL("c.bin"))
	etag, lastMod := first.Header.Get("ETag"), first.Header.Get("Last-Modified")
	if etag == "" || strings.HasPrefix(etag, "W/") || !strings.HasPrefix(etag, `"`) {
		t.Fatalf("ETag %q, want a strong entity tag", etag)
	}
	if lastMod == "" {
		t.Fatal("no Last-Modified")
	}
	if ar := first.Header.Get("Accept-Ranges"); ar != "bytes" {
		t.Errorf("Accept-Ranges %q, want bytes", ar)
	}
	tests := []struct {
		name string
		hdr  []string
		want int
		body []byte
	}{
		{"If-Range wrong etag gives the whole file", []string{"Range", "bytes=0-1", "If-Range", `"other"`}, http.StatusOK, body},
		{"If-Range right etag gives the range", []string{"Range", "bytes=0-1", "If-Range", etag}, http.StatusPartialContent, body[:2]},
		{"If-None-Match etag", []string{"If-None-Match", etag}, http.StatusNotModified, nil},
		{"If-None-Match other", []string{"If-None-Match", `"other"`}, http.StatusOK, body},
		{"If-Match mismatch", []string{"If-Match", `"other"`}, http.StatusPreconditionFailed, nil},
		{"If-Match etag", []string{"If-Match", etag}, http.StatusOK, body},
		{"If-Modified-Since last modified", []string{"If-Modified-Since", lastMod}, http.StatusNotModified, nil},
		{"If-Modified-Since long ago", []string{"If-Modified-Since", "Mon, 01 Jan 2001 00:00:00 GMT"}, http.StatusOK, body},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, got := get(t, ts.fileURL("c.bin"), tt.hdr...)
			wantStatus(t, resp, got, tt.want)
			if tt.body != nil && !bytes.Equal(got, tt.body) {
				t.Errorf("body %v, want %v", got, tt.body)
			}
			if tt.want == http.StatusNotModified && len(got) != 0 {
				t.Errorf("304 with a body")
			}
		})
	}
}

// No compression, whatever the client accepts: lengths must match HEAD (docs/clients.md,
// "Length and encoding").
func TestDownloadNeverEncoded(t *testing.T) {
	body := []byte(strings.Repeat("compressible text ", 500))
	ts := uploaded(t, "z.txt", body)
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		resp, got := do(t, request(t, method, ts.fileURL("z.txt"), nil, "Accept-Encoding", "gzip, deflate, br"))
		wantStatus(t, resp, got, http.StatusOK)
		if ce := resp.Header.Get("Content-Encoding"); ce != "" {
			t.Errorf("%s: Content-Encoding %q", method, ce)
		}
		if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
			t.Errorf("%s: Content-Length %q, want %d", method, cl, len(body))
		}
		if method == http.MethodGet && !bytes.Equal(got, body) {
			t.Errorf("GET body differs from the upload")
		}
	}
}

// Every response, success or error, tells browsers not to sniff and not to run anything.
func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	body := pattern(100, 14)
	ts := uploaded(t, "s.bin", body)
	etag := func() string { r, _ := get(t, ts.fileURL("s.bin")); return r.Header.Get("ETag") }()
	tests := []struct {
		name string
		req  *http.Request
		want int
	}{
		{"201", request(t, http.MethodPut, ts.v1URL("new.bin", 3), strings.NewReader("abc")), http.StatusCreated},
		{"200 GET", request(t, http.MethodGet, ts.fileURL("s.bin"), nil), http.StatusOK},
		{"200 HEAD", request(t, http.MethodHead, ts.fileURL("s.bin"), nil), http.StatusOK},
		{"206", request(t, http.MethodGet, ts.fileURL("s.bin"), nil, "Range", "bytes=0-1"), http.StatusPartialContent},
		{"304", request(t, http.MethodGet, ts.fileURL("s.bin"), nil, "If-None-Match", etag), http.StatusNotModified},
		{"403", request(t, http.MethodPut, ts.fileURL("x.bin"), strings.NewReader("abc")), http.StatusForbidden},
		{"404", request(t, http.MethodGet, ts.fileURL("none.bin"), nil), http.StatusNotFound},
		{"404 outside prefix", request(t, http.MethodGet, ts.URL+"/elsewhere", nil), http.StatusNotFound},
		{"405", request(t, http.MethodDelete, ts.fileURL("s.bin"), nil), http.StatusMethodNotAllowed},
		{"409", request(t, http.MethodPut, ts.v1URL("s.bin", 3), strings.NewReader("abc")), http.StatusConflict},
		{"416", request(t, http.MethodGet, ts.fileURL("s.bin"), nil, "Range", "bytes=200-"), http.StatusRequestedRangeNotSatisfiable},
		{"204 preflight", request(t, http.MethodOptions, ts.fileURL("s.bin"), nil, "Origin", "https://x.example", "Access-Control-Request-Method", "PUT"), http.StatusNoContent},
		{"healthz", request(t, http.MethodGet, ts.URL+"/healthz", nil), http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, got := do(t, tt.req)
			wantStatus(t, resp, got, tt.want)
			if v := resp.Header.Get("X-Content-Type-Options"); v != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", v)
			}
			if v := resp.Header.Get("Content-Security-Policy"); !strings.Contains(v, "default-src 'none'") {
				t.Errorf("Content-Security-Policy %q", v)
			}
		})
	}
}

// HTTPS responses, errors included, carry Strict-Transport-Security; plain http ones do not
// (the header means nothing there), and hsts_max_age = 0 turns it off.
func TestStrictTransportSecurity(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tls    bool
		maxAge time.Duration
		want   string
	}{
		{"https default", true, 0, "max-age=31536000"},
		{"https off", true, -1, ""},
		{"plain http", false, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startTestServer(t, serverSetup{tls: tc.tls}, func(c *config.Config) {
				if tc.maxAge < 0 {
					c.Server.HSTSMaxAge = 0
				}
			})
			hc := ts.Client()
			for _, u := range []string{ts.URL + "/healthz", ts.fileURL("none.bin"), ts.v1URL("a.bin", 3)} {
				req := request(t, http.MethodPut, u, strings.NewReader("abc"))
				if !strings.Contains(u, "?") {
					req = request(t, http.MethodGet, u, nil)
				}
				resp, err := hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if got := resp.Header.Get("Strict-Transport-Security"); got != tc.want {
					t.Errorf("%s %s: %d, Strict-Transport-Security %q, want %q", req.Method, u, resp.StatusCode, got, tc.want)
				}
			}
		})
	}
}
