package handlers_test

import (
	"bytes"
	"net/http"
	"slices"
	"strconv"
	"testing"

	"fileserver/internal/config"
	"fileserver/internal/handlers"
	"fileserver/internal/hmacauth"
)

// A path that decodes to anything outside storage gets a 4xx, never a redirect, and nothing is
// written anywhere. The requests go out byte for byte on a raw connection, signed for what
// they decode to, so only the path check stands in the way.
func TestTraversalRefused(t *testing.T) {
	ts := newTestServer(t)
	before := dirTree(t, ts.parent)
	body := "evil"
	tests := []struct {
		target  string // as sent in the request line, without query
		decoded string // the file path a signer would have signed
	}{
		{"/upload/../x", "../x"},
		{"/upload/a/../../x", "a/../../x"},
		{"/upload/%2e%2e/x", "../x"},
		{"/upload/%2E%2E/%2e%2e/x", "../../x"},
		{"/upload/a%2fb", "a/b"},
		{"/upload/..%2fx", "../x"},
		{"/upload/a%5cb", `a\b`},
		{"/upload/..%5cx", `..\x`},
		{"/upload/a%00b", "a\x00b"},
		{`/upload/a\b`, `a\b`},
		{"/upload//abs", "/abs"},
		{"/upload//tmp/x", "/tmp/x"},
		{"/upload/./x", "./x"},
		{"//abs", "abs"},
		{"/upload/", ""},
	}
	for _, tt := range tests {
		for _, method := range []string{http.MethodPut, http.MethodGet} {
			t.Run(method+" "+tt.target, func(t *testing.T) {
				target := tt.target
				if method == http.MethodPut {
					target += "?v=" + hmacauth.SignV1(testSecret, tt.decoded, int64(len(body)))
				}
				rc := ts.dial(t)
				rc.write(rawRequest(method, target, "Content-Length", strconv.Itoa(len(body))) + body)
				resp, rb := rc.readResponse(method)
				if resp.StatusCode < 400 || resp.StatusCode >= 500 {
					t.Fatalf("status %d (%q, Location %q), want 4xx", resp.StatusCode, rb, resp.Header.Get("Location"))
				}
			})
		}
	}
	after := dirTree(t, ts.parent)
	var added []string
	for _, p := range after {
		if !slices.Contains(before, p) {
			added = append(added, p)
		}
	}
	if len(added) > 0 {
		t.Fatalf("traversal attempts created %v", added)
	}
}

// Any UTF-8 name maps to one stored object whichever way its URL is escaped; '+' is a plus
// (docs/clients.md, "File names in URLs").
func TestURLEncodingAddressesOneObject(t *testing.T) {
	ts := newTestServer(t)
	tests := []struct {
		name    string
		aliases []string // other request targets for the same object
		others  []string // targets that are a different name
	}{
		{"with space.txt", []string{"/upload/with%20space.txt"}, []string{"/upload/with+space.txt"}},
		{"a+b.txt", []string{"/upload/a+b.txt", "/upload/a%2Bb.txt", "/upload/a%2bb.txt"}, []string{"/upload/a%20b.txt"}},
		{"100%.txt", []string{"/upload/100%25.txt"}, nil},
		{"c#1.txt", []string{"/upload/c%231.txt"}, []string{"/upload/c"}},
		{"файл.txt", []string{"/upload/%D1%84%D0%B0%D0%B9%D0%BB.txt", "/upload/%d1%84%d0%b0%d0%b9%d0%bb.txt", "/upload/%D1%84%d0%B0%d0%b9%D0%BB.txt"}, nil},
		{"dir/ü x+%.bin", []string{"/upload/dir/%C3%BC%20x+%25.bin", "/upload/dir/%c3%bc%20x%2b%25.bin"}, []string{"/upload/dir%2F%C3%BC%20x+%25.bin"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := pattern(40+i, byte(i+20))
			resp, rb := put(t, ts.v1URL(tt.name, len(body)), body)
			wantStatus(t, resp, rb, http.StatusCreated)
			if loc := resp.Header.Get("Location"); loc != ts.URL+"/upload/"+handlers.EscapeName(tt.name) {
				t.Errorf("Location %q", loc)
			}
			for _, target := range tt.aliases {
				g, gb := do(t, ts.opaqueRequest(t, http.MethodGet, target, nil))
				wantStatus(t, g, gb, http.StatusOK)
				if !bytes.Equal(gb, body) {
					t.Errorf("GET %s: different bytes", target)
				}
			}
			for _, target := range tt.others {
				g, gb := do(t, ts.opaqueRequest(t, http.MethodGet, target, nil))
				if g.StatusCode == http.StatusOK && bytes.Equal(gb, body) {
					t.Errorf("GET %s served %q's bytes", target, tt.name)
				}
			}
		})
	}
}

// Clients escape differently (Prosody lowercase, slixmpp uppercase): a MAC over the decoded
// path verifies whichever escaping the PUT uses.
func TestPutSignedPathAnyEscaping(t *testing.T) {
	ts := newTestServer(t)
	name := "ä+ö.txt"
	body := []byte("umlauts")
	mac := hmacauth.SignV1(testSecret, name, int64(len(body)))
	for i, target := range []string{"/upload/%c3%a4+%c3%b6.txt", "/upload/%C3%A4+%C3%B6.txt"} {
		resp, rb := do(t, ts.opaqueRequest(t, http.MethodPut, target+"?v="+mac, bytes.NewReader(body)))
		want := http.StatusCreated
		if i > 0 {
			want = http.StatusConflict // same object as the first
		}
		wantStatus(t, resp, rb, want)
	}
	ts.assertStored(t, name, body)
}

// A denied extension is denied with trailing dots and spaces too: Windows drops them when it
// saves a download, so "evil.exe." would land on disk as "evil.exe".
func TestDeniedExtensionTrailingDotsAndSpaces(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) { c.Upload.DeniedExtensions = []string{".exe"} })
	body := []byte("MZ\x90\x00")
	resp, rb := put(t, ts.v1URL("d/evil.exe", len(body)), body)
	wantStatus(t, resp, rb, http.StatusUnsupportedMediaType) // the control: refused
	for _, name := range []string{"d/evil.exe.", "d/evil.exe ", "d/evil.exe. . "} {
		if resp, _ = put(t, ts.v1URL(name, len(body)), body); resp.StatusCode == http.StatusCreated {
			g, _ := get(t, ts.fileURL(name))
			t.Errorf("%q stored despite denied .exe; served with Content-Disposition %q", name, g.Header.Get("Content-Disposition"))
		}
	}
}
