package handlers_test

import (
	"bytes"
	"net/http"
	"strconv"
	"testing"
)

// A credential that binds a size (a Prosody token's filesize; v1 and v2 bind Content-Length)
// fixes the length of the upload it authorizes, on every protocol: no deferred length, no
// concatenation, no later Upload-Length, no more bytes than it names.
func TestTokenFilesizeHoldsOnEveryProtocol(t *testing.T) {
	ts := newTestServer(t)
	const size = 10
	big := pattern(50_000, 41)
	tok := func(file string) string { return bearer(tokenClaims("slot9", file, size)) }
	tusCreate := func(file string, hdr ...string) (*http.Response, []byte) {
		return do(t, request(t, http.MethodPost, ts.URL+"/files/", nil,
			append([]string{"Tus-Resumable", tusVer, "Authorization", tok(file)}, hdr...)...))
	}

	// tus: deferred length, or concatenation, would leave the length open.
	for _, hdr := range [][]string{
		{"Upload-Defer-Length", "1"},
		{"Upload-Length", strconv.Itoa(size), "Upload-Concat", "partial"},
		{"Upload-Concat", "final;/files/0123456789abcdef0123456789abcdef"},
		{"Upload-Length", strconv.Itoa(len(big))},
	} {
		resp, body := tusCreate("a.bin", hdr...)
		if resp.StatusCode/100 == 2 {
			u := resp.Header.Get("Location")
			p, _ := tusPatch(t, u, 0, big, "Upload-Length", strconv.Itoa(len(big)))
			t.Errorf("tus creation %v with a token for %d bytes: %d %q (then PATCH of %d bytes: %d)", hdr, size, resp.StatusCode, body, len(big), p.StatusCode)
		}
	}
	ts.assertNotStored(t, "slot9/a.bin")

	// tus with the token's length: a PATCH cannot carry more, nor declare another length.
	resp, body := tusCreate("b.bin", "Upload-Length", strconv.Itoa(size))
	wantStatus(t, resp, body, http.StatusCreated)
	u := resp.Header.Get("Location")
	if p, pb := tusPatch(t, u, 0, big); p.StatusCode/100 == 2 {
		t.Errorf("PATCH of %d bytes onto a %d-byte token upload: %d %q", len(big), size, p.StatusCode, pb)
	}
	ts.assertNotStored(t, "slot9/b.bin")

	// IETF: the token's size is the upload's length, whatever Upload-Complete says.
	for _, complete := range []string{"?1", "?0"} {
		resp, body = do(t, request(t, http.MethodPost, ts.URL+"/files/", bytes.NewReader(big),
			"Upload-Draft-Interop-Version", "8", "Upload-Complete", complete, "Authorization", tok("c.bin")))
		if resp.StatusCode/100 == 2 {
			t.Logf("IETF creation (Upload-Complete %s) with a token for %d bytes: %d %q", complete, size, resp.StatusCode, body)
			ietfPatch(t, resp.Header.Get("Location"), 0, big, "?1")
		}
	}
	if g, _ := get(t, ts.fileURL("slot9/c.bin")); g.StatusCode == http.StatusOK && g.ContentLength != size {
		t.Errorf("IETF upload with a token for %d bytes stored %d", size, g.ContentLength)
	}

	// Content-Range PUT: the complete length is what the token must name.
	resp, body = rangePut(t, ts.URL+"/upload/slot9/d.bin", "bytes 0-49999/50000", big, "Authorization", tok("d.bin"))
	if resp.StatusCode/100 == 2 {
		t.Errorf("Content-Range PUT of %d bytes with a token for %d: %d %q", len(big), size, resp.StatusCode, body)
	}
	ts.assertNotStored(t, "slot9/d.bin")
}
