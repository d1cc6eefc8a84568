package handlers_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"fileserver/internal/config"
	"fileserver/internal/hmacauth"
)

// Every signature scheme uploads with 201, and the file then downloads byte for byte, with
// GET and HEAD agreeing on an exact Content-Length (docs/clients.md).
func TestPutSchemesStoreAndServe(t *testing.T) {
	ts := newTestServer(t)
	body := pattern(3000, 1)
	n := len(body)
	tests := []struct {
		scheme string
		name   string
		url    string
		hdr    []string
	}{
		{"v1", "v1/a.bin", ts.v1URL("v1/a.bin", n), nil},
		{"v2", "v2/a.bin", ts.v2URL("v2/a.bin", n, "application/octet-stream"), []string{"Content-Type", "application/octet-stream"}},
		{"token alias of v2", "tok2/a.bin", ts.fileURL("tok2/a.bin") + "?token=" + hmacauth.SignV2(testSecret, "tok2/a.bin", int64(n), "text/plain"), []string{"Content-Type", "text/plain"}},
		{"v3", "v3/a.bin", ts.v3URL(http.MethodPut, "v3/a.bin"), nil},
		{"bearer", "slot1/a.bin", ts.fileURL("slot1/a.bin"), []string{"Authorization", bearer(tokenClaims("slot1", "a.bin", n))}},
		{"ejabberd depth", "u/r/x/a.bin", ts.v1URL("u/r/x/a.bin", n), nil},
	}
	for _, tt := range tests {
		t.Run(tt.scheme, func(t *testing.T) {
			resp, rb := put(t, tt.url, body, tt.hdr...)
			wantStatus(t, resp, rb, http.StatusCreated)
			if loc := resp.Header.Get("Location"); loc != ts.fileURL(tt.name) {
				t.Errorf("Location %q, want %q", loc, ts.fileURL(tt.name))
			}
			g, gb := get(t, ts.fileURL(tt.name))
			wantStatus(t, g, gb, http.StatusOK)
			if string(gb) != string(body) {
				t.Fatalf("GET returned %d bytes, not the %d uploaded", len(gb), n)
			}
			h, hb := do(t, request(t, http.MethodHead, ts.fileURL(tt.name), nil))
			wantStatus(t, h, hb, http.StatusOK)
			if len(hb) != 0 {
				t.Errorf("HEAD carried a %d-byte body", len(hb))
			}
			for _, r := range []*http.Response{g, h} {
				if cl := r.Header.Get("Content-Length"); cl != strconv.Itoa(n) {
					t.Errorf("%s Content-Length %q, want %d", r.Request.Method, cl, n)
				}
			}
			for _, k := range []string{"Content-Type", "Etag", "Content-Disposition", "Last-Modified"} {
				if g.Header.Get(k) != h.Header.Get(k) {
					t.Errorf("%s: GET %q, HEAD %q", k, g.Header.Get(k), h.Header.Get(k))
				}
			}
		})
	}
}

// HEAD answers without a body on the wire: a second request on the same connection parses
// cleanly right after it (Conversations #1497).
func TestHeadHasNoBodyOnTheWire(t *testing.T) {
	ts := newTestServer(t)
	body := []byte("hello, head")
	resp, rb := put(t, ts.v1URL("h.txt", len(body)), body)
	wantStatus(t, resp, rb, http.StatusCreated)

	rc := ts.dial(t)
	rc.write(rawRequest(http.MethodHead, "/upload/h.txt") + rawRequest(http.MethodGet, "/healthz"))
	h, _ := rc.readResponse(http.MethodHead)
	if h.StatusCode != http.StatusOK || h.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
		t.Fatalf("HEAD: status %d, Content-Length %q", h.StatusCode, h.Header.Get("Content-Length"))
	}
	next, nb := rc.readResponse(http.MethodGet)
	if next.StatusCode != http.StatusOK || string(nb) != "ok\n" {
		t.Fatalf("request after HEAD: status %d body %q: HEAD leaked a body", next.StatusCode, nb)
	}
}

func TestPutRefusesBadCredentials(t *testing.T) {
	ts := newTestServer(t)
	body := []byte("0123456789")
	n := len(body)
	wrong := "0000000000000000000000000000000000000000000000000000000000000000"
	past := time.Now().Add(-time.Hour).Unix()
	tests := []struct {
		name string
		url  string
		hdr  []string
		want int
	}{
		{"no credential", ts.fileURL("f1.bin"), nil, http.StatusForbidden},
		{"v1 wrong mac", ts.fileURL("f1.bin") + "?v=" + wrong, nil, http.StatusForbidden},
		{"v1 not hex", ts.fileURL("f1.bin") + "?v=zz", nil, http.StatusForbidden},
		{"v1 signed for another size", ts.v1URL("f1.bin", n+1), nil, http.StatusForbidden},
		{"v1 signed for another name", ts.fileURL("f1.bin") + "?v=" + hmacauth.SignV1(testSecret, "f2.bin", int64(n)), nil, http.StatusForbidden},
		{"v1 other secret", ts.fileURL("f1.bin") + "?v=" + hmacauth.SignV1("other-secret", "f1.bin", int64(n)), nil, http.StatusForbidden},
		{"v2 wrong mac", ts.fileURL("f1.bin") + "?v2=" + wrong, nil, http.StatusForbidden},
		{"v3 wrong method", ts.v3URL(http.MethodPost, "f1.bin"), nil, http.StatusForbidden},
		{"v3 expired", ts.fileURL("f1.bin") + "?v3=" + hmacauth.SignV3(testSecret, http.MethodPut, "/upload/f1.bin", past) +
			"&expires=" + strconv.FormatInt(past, 10), nil, http.StatusForbidden},
		{"basic auth is no credential", ts.fileURL("f1.bin"), []string{"Authorization", "Basic dXNlcjpwYXNz"}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, rb := put(t, tt.url, body, tt.hdr...)
			wantStatus(t, resp, rb, tt.want)
			ts.assertNotStored(t, "f1.bin")
		})
	}
}

// Bearer tokens fail the way Prosody's mod_http_file_share does: 401 with WWW-Authenticate
// for a missing or bad token, 410 once it has expired, 400 for another slot, 413 for another
// size.
func TestPutTokenFailures(t *testing.T) {
	ts := newTestServer(t)
	body := []byte("token body")
	n := len(body)
	expired := tokenClaims("s1", "f.bin", n)
	expired.Iat, expired.Exp = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
	tests := []struct {
		name string
		auth string
		path string
		want int
	}{
		{"empty bearer", "Bearer ", "s1/f.bin", http.StatusUnauthorized},
		{"garbage bearer", "Bearer not.a.jwt", "s1/f.bin", http.StatusUnauthorized},
		{"wrong secret", "Bearer " + hmacauth.SignToken("other-secret", tokenClaims("s1", "f.bin", n)), "s1/f.bin", http.StatusUnauthorized},
		{"expired exp", bearer(expired), "s1/f.bin", http.StatusGone},
		{"slot mismatch", bearer(tokenClaims("other", "f.bin", n)), "s1/f.bin", http.StatusBadRequest},
		{"filesize mismatch", bearer(tokenClaims("s1", "f.bin", n+5)), "s1/f.bin", http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, rb := put(t, ts.fileURL(tt.path), body, "Authorization", tt.auth)
			wantStatus(t, resp, rb, tt.want)
			if wwwAuth := resp.Header.Get("WWW-Authenticate"); tt.want == http.StatusUnauthorized && !strings.HasPrefix(wwwAuth, "Bearer") {
				t.Errorf("401 with WWW-Authenticate %q, want Bearer", wwwAuth)
			}
			ts.assertNotStored(t, tt.path)
		})
	}
}

// v2 binds the slot's content type, which clients do not always PUT: the server tries the
// PUT's type, the same without parameters, and, for an absent or octet-stream type,
// application/octet-stream and the extension's type. The type the MAC covered is the one
// served.
func TestPutV2ContentType(t *testing.T) {
	ts := newTestServer(t)
	body := []byte("\x89PNG not really")
	n := len(body)
	tests := []struct {
		name, file, signed string
		sent               []string // Content-Type header; nil sends none
		want               int
		served             string
	}{
		{"signed png, sent text", "a.png", "image/png", []string{"text/plain"}, http.StatusForbidden, ""},
		{"signed png, sent png with parameter", "b.png", "image/png", []string{"image/png; charset=x"}, http.StatusCreated, "image/png"},
		{"signed octet-stream, sent none", "c.bin", "application/octet-stream", nil, http.StatusCreated, "application/octet-stream"},
		{"signed png served exactly", "d.png", "image/png", []string{"image/png"}, http.StatusCreated, "image/png"},
		{"signed octet-stream for jpg served by extension", "x.jpg", "application/octet-stream", []string{"application/octet-stream"}, http.StatusCreated, "image/jpeg"},
		{"signed png, sent octet-stream (Dino, Monal)", "e.png", "image/png", []string{"application/octet-stream"}, http.StatusCreated, "image/png"},
		{"signed png, sent empty (Converse.js)", "f.png", "image/png", []string{""}, http.StatusCreated, "image/png"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.sent != nil {
				hdr = []string{"Content-Type", tt.sent[0]}
			}
			resp, rb := put(t, ts.v2URL(tt.file, n, tt.signed), body, hdr...)
			wantStatus(t, resp, rb, tt.want)
			if tt.want != http.StatusCreated {
				ts.assertNotStored(t, tt.file)
				return
			}
			g, gb := get(t, ts.fileURL(tt.file))
			wantStatus(t, g, gb, http.StatusOK)
			if ct := g.Header.Get("Content-Type"); ct != tt.served {
				t.Errorf("served Content-Type %q, want exactly %q", ct, tt.served)
			}
			if tt.served == "image/png" {
				if cd := g.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "inline;") {
					t.Errorf("Content-Disposition %q, want inline", cd)
				}
			}
		})
	}
}

func TestPutExtensionPolicy(t *testing.T) {
	body := []byte("x")
	tests := []struct {
		name            string
		allowed, denied []string
		file            string
		want            int
	}{
		{"allowed list refuses others", []string{".jpg", "tar.gz"}, nil, "x.png", http.StatusUnsupportedMediaType},
		{"allowed list, listed ext", []string{".jpg", "tar.gz"}, nil, "x.jpg", http.StatusCreated},
		{"allowed multi-part ext, any case", []string{".jpg", "tar.gz"}, nil, "y.TAR.GZ", http.StatusCreated},
		{"allowed list, bare gz is not tar.gz", []string{".jpg", "tar.gz"}, nil, "y.gz", http.StatusUnsupportedMediaType},
		{"denied", nil, []string{".exe"}, "setup.exe", http.StatusUnsupportedMediaType},
		{"denied, upper case", nil, []string{".exe"}, "SETUP.EXE", http.StatusUnsupportedMediaType},
		{"denied list lets others through", nil, []string{".exe"}, "notes.txt", http.StatusCreated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, func(c *config.Config) {
				c.Upload.AllowedExtensions, c.Upload.DeniedExtensions = tt.allowed, tt.denied
			})
			resp, rb := put(t, ts.v1URL(tt.file, len(body)), body)
			wantStatus(t, resp, rb, tt.want)
			if tt.want == http.StatusCreated {
				ts.assertStored(t, tt.file, body)
			} else {
				ts.assertNotStored(t, tt.file)
			}
		})
	}
}
