package handlers_test

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash/crc32"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"fileserver/internal/config"
	"fileserver/internal/hmacauth"
	"fileserver/internal/testkit"
)

// Helpers shared by the resumable-upload tests (tus, IETF draft, Content-Range PUT, hand-off).

const tusVer = "1.0.0"

// tusCreateURL is the creation endpoint with a v3 signature for POST /files/.
func (ts *testServer) tusCreateURL() string {
	return ts.URL + "/files/?" + v3Query(http.MethodPost, "/files/")
}

// tusPost sends a tus creation request (Tus-Resumable set) to the signed creation URL.
func (ts *testServer) tusPost(t *testing.T, body []byte, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	return do(t, request(t, http.MethodPost, ts.tusCreateURL(), bytes.NewReader(body), append([]string{"Tus-Resumable", tusVer}, hdr...)...))
}

// tusNew creates an upload (length < 0: deferred) and returns its URL.
func (ts *testServer) tusNew(t *testing.T, length int, hdr ...string) string {
	t.Helper()
	if length < 0 {
		hdr = append(hdr, "Upload-Defer-Length", "1")
	} else {
		hdr = append(hdr, "Upload-Length", strconv.Itoa(length))
	}
	resp, body := ts.tusPost(t, nil, hdr...)
	wantStatus(t, resp, body, http.StatusCreated)
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, ts.URL+"/files/") {
		t.Fatalf("Location %q is not an absolute URL under %s/files/", loc, ts.URL)
	}
	return loc
}

// tusHead asks a tus upload's state.
func tusHead(t *testing.T, u string, hdr ...string) *http.Response {
	t.Helper()
	resp, _ := do(t, request(t, http.MethodHead, u, nil, append([]string{"Tus-Resumable", tusVer}, hdr...)...))
	return resp
}

// tusPatch appends body at off to a tus upload.
func tusPatch(t *testing.T, u string, off int, body []byte, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	h := append([]string{"Tus-Resumable", tusVer, "Content-Type", "application/offset+octet-stream",
		"Upload-Offset", strconv.Itoa(off)}, hdr...)
	return do(t, request(t, http.MethodPatch, u, bytes.NewReader(body), h...))
}

// wantHeader fails unless resp carries key with exactly want.
func wantHeader(t *testing.T, resp *http.Response, key, want string) {
	t.Helper()
	if got := resp.Header.Get(key); got != want {
		t.Fatalf("%s %s: %s %q, want %q", resp.Request.Method, resp.Request.URL.Path, key, got, want)
	}
}

// wantTusResumable checks the header every tus response carries.
func wantTusResumable(t *testing.T, resp *http.Response) {
	t.Helper()
	wantHeader(t, resp, "Tus-Resumable", tusVer)
}

// headerInt reads an integer response header, failing when it is absent or malformed.
func headerInt(t *testing.T, resp *http.Response, key string) int64 {
	t.Helper()
	v := resp.Header.Get(key)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("%s %s: %s %q is not an integer", resp.Request.Method, resp.Request.URL.Path, key, v)
	}
	return n
}

// uploadID is the last path segment of an upload URL.
func uploadID(u string) string { return path.Base(u) }

// partialPath is where the store keeps an unfinished upload's data.
func (ts *testServer) partialPath(id string) string {
	return filepath.Join(ts.dataDir, "partial", id)
}

// wantGetSHA256 downloads u and checks its digest and, when the server gives one, its
// Repr-Digest.
func wantGetSHA256(t *testing.T, u string, want []byte) *http.Response {
	t.Helper()
	resp, body := get(t, u)
	wantStatus(t, resp, body, http.StatusOK)
	if testkit.SHA256(body) != testkit.SHA256(want) {
		t.Fatalf("GET %s: %d bytes with sha256 %s, want %d bytes with %s", u, len(body), testkit.SHA256(body), len(want), testkit.SHA256(want))
	}
	sum := sha256.Sum256(want)
	if d := resp.Header.Get("Repr-Digest"); d != "" && d != "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":" {
		t.Fatalf("GET %s: Repr-Digest %q does not match the content", u, d)
	}
	return resp
}

// OPTIONS announces the protocol without credentials, with CORS headers for browsers.
func TestTusOptions(t *testing.T) {
	ts := newTestServer(t)
	for _, target := range []string{"/files/", "/files/0123abcd"} {
		resp, body := do(t, request(t, http.MethodOptions, ts.URL+target, nil,
			"Origin", "https://app.example", "Access-Control-Request-Method", "PATCH"))
		wantStatus(t, resp, body, http.StatusNoContent)
		wantHeader(t, resp, "Tus-Version", tusVer)
		wantHeader(t, resp, "Tus-Resumable", tusVer)
		wantHeader(t, resp, "Tus-Extension", "creation,creation-with-upload,creation-defer-length,termination,expiration,checksum,concatenation")
		wantHeader(t, resp, "Tus-Max-Size", strconv.FormatInt(int64(ts.cfg.Upload.MaxSize), 10))
		wantHeader(t, resp, "Tus-Checksum-Algorithm", "sha1,sha256,md5,crc32")
		wantHeader(t, resp, "Access-Control-Allow-Origin", "*")
		if m := resp.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "PATCH") {
			t.Errorf("OPTIONS %s: Access-Control-Allow-Methods %q lacks PATCH", target, m)
		}
		for _, h := range []string{"Upload-Offset", "Tus-Resumable", "Location"} {
			if !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), h) {
				t.Errorf("OPTIONS %s: Access-Control-Expose-Headers lacks %s", target, h)
			}
		}
	}
}

// tus core: a missing or other Tus-Resumable is 412 with Tus-Version, whatever the method,
// and the request is not processed.
func TestTusResumableRequired(t *testing.T) {
	ts := newTestServer(t)
	u := ts.tusNew(t, 10)
	tests := []struct {
		method, url string
		version     string
		body        []byte
		hdr         []string
	}{
		{http.MethodPost, ts.tusCreateURL(), "", nil, []string{"Upload-Length", "5"}},
		{http.MethodPost, ts.tusCreateURL(), "0.2.2", nil, []string{"Upload-Length", "5"}},
		{http.MethodHead, u, "", nil, nil},
		{http.MethodHead, u, "1.0", nil, nil},
		{http.MethodPatch, u, "", []byte("hello"), []string{"Content-Type", "application/offset+octet-stream", "Upload-Offset", "0"}},
		{http.MethodPatch, u, "2.0.0", []byte("hello"), []string{"Content-Type", "application/offset+octet-stream", "Upload-Offset", "0"}},
		{http.MethodDelete, u, "", nil, nil},
		{http.MethodDelete, u, "0.1", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.version, func(t *testing.T) {
			hdr := tt.hdr
			if tt.version != "" {
				hdr = append(hdr, "Tus-Resumable", tt.version)
			}
			resp, body := do(t, request(t, tt.method, tt.url, bytes.NewReader(tt.body), hdr...))
			wantStatus(t, resp, body, http.StatusPreconditionFailed)
			wantHeader(t, resp, "Tus-Version", tusVer)
			wantTusResumable(t, resp)
		})
	}
	// Nothing was processed: the upload is still there, with nothing in it.
	h := tusHead(t, u)
	wantStatus(t, h, nil, http.StatusOK)
	wantHeader(t, h, "Upload-Offset", "0")
}

func TestTusCreateRefusals(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) { c.Upload.MaxSize = 1000 })
	signed := ts.tusCreateURL()
	unsigned := ts.URL + "/files/"
	mac := hmacauth.SignV1(testSecret, "", 10)
	tests := []struct {
		name string
		url  string
		hdr  []string
		want int
	}{
		{"no credential", unsigned, []string{"Upload-Length", "10"}, http.StatusForbidden},
		{"v1 signature", unsigned + "?v=" + mac, []string{"Upload-Length", "10"}, http.StatusForbidden},
		{"v2 signature", unsigned + "?v2=" + hmacauth.SignV2(testSecret, "", 10, "application/octet-stream"), []string{"Upload-Length", "10"}, http.StatusForbidden},
		{"v3 for another method", unsigned + "?" + v3Query(http.MethodPut, "/files/"), []string{"Upload-Length", "10"}, http.StatusForbidden},
		{"v3 for another path", unsigned + "?" + v3Query(http.MethodPost, "/upload/x"), []string{"Upload-Length", "10"}, http.StatusForbidden},
		{"bad token", unsigned, []string{"Upload-Length", "10", "Authorization", "Bearer not.a.token"}, http.StatusUnauthorized},
		{"no length", signed, nil, http.StatusBadRequest},
		{"both lengths", signed, []string{"Upload-Length", "10", "Upload-Defer-Length", "1"}, http.StatusBadRequest},
		{"defer length 2", signed, []string{"Upload-Defer-Length", "2"}, http.StatusBadRequest},
		{"negative length", signed, []string{"Upload-Length", "-1"}, http.StatusBadRequest},
		{"garbage length", signed, []string{"Upload-Length", "ten"}, http.StatusBadRequest},
		{"length over max_size", signed, []string{"Upload-Length", "1001"}, http.StatusRequestEntityTooLarge},
		{"metadata not base64", signed, []string{"Upload-Length", "10", "Upload-Metadata", "filename not-base64!"}, http.StatusBadRequest},
		{"metadata empty key", signed, []string{"Upload-Length", "10", "Upload-Metadata", "a " + testkit.B64("x") + ",,b"}, http.StatusBadRequest},
		{"metadata duplicate key", signed, []string{"Upload-Length", "10", "Upload-Metadata", "a " + testkit.B64("x") + ",a " + testkit.B64("y")}, http.StatusBadRequest},
		{"bad concat", signed, []string{"Upload-Length", "10", "Upload-Concat", "sideways"}, http.StatusBadRequest},
		{"token size differs", unsigned, []string{"Upload-Length", "11", "Authorization", bearer(tokenClaims("slot", "a.bin", 10))}, http.StatusRequestEntityTooLarge},
	}
	// creation-with-upload of more bytes than Upload-Length
	overlong := struct {
		name string
		url  string
		hdr  []string
		want int
	}{"body longer than the length", signed, []string{"Upload-Length", "5", "Content-Type", "application/offset+octet-stream"}, http.StatusRequestEntityTooLarge}
	for i, tt := range append(tests, overlong) {
		t.Run(tt.name, func(t *testing.T) {
			req := request(t, http.MethodPost, tt.url, nil, append([]string{"Tus-Resumable", tusVer}, tt.hdr...)...)
			if i == len(tests) {
				body := []byte("0123456789")
				req.Body, req.ContentLength = nopCloser(body), int64(len(body))
			}
			resp, respBody := do(t, req)
			wantStatus(t, resp, respBody, tt.want)
			wantTusResumable(t, resp)
			if resp.Header.Get("Location") != "" {
				t.Errorf("refused creation carries Location %q", resp.Header.Get("Location"))
			}
		})
	}
	if ents, _ := os.ReadDir(filepath.Join(ts.dataDir, "sessions")); len(ents) != 0 {
		t.Errorf("refused creations left %d sessions", len(ents))
	}
}

func TestTusCreateAndHead(t *testing.T) {
	ts := newTestServer(t)
	meta := "filename " + testkit.B64("holiday.png") + ",empty"
	before := time.Now().Add(-time.Second)
	resp, body := ts.tusPost(t, nil, "Upload-Length", "100", "Upload-Metadata", meta)
	wantStatus(t, resp, body, http.StatusCreated)
	wantTusResumable(t, resp)
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, ts.URL+"/files/") || len(uploadID(loc)) < 32 {
		t.Fatalf("Location %q: want an absolute, unguessable URL under /files/", loc)
	}
	if lim := resp.Header.Get("Upload-Limit"); !strings.Contains(lim, "max-append-size=") {
		t.Errorf("creation Upload-Limit %q does not offer the engine's chunk size", lim)
	}
	exp, err := http.ParseTime(resp.Header.Get("Upload-Expires"))
	if err != nil || !exp.After(before) {
		t.Fatalf("Upload-Expires %q: want an HTTP date in the future (%v)", resp.Header.Get("Upload-Expires"), err)
	}

	h := tusHead(t, loc)
	wantStatus(t, h, nil, http.StatusOK)
	wantTusResumable(t, h)
	wantHeader(t, h, "Upload-Offset", "0")
	wantHeader(t, h, "Upload-Length", "100")
	wantHeader(t, h, "Upload-Metadata", meta)
	wantHeader(t, h, "Cache-Control", "no-store")
	wantHeader(t, h, "Upload-Defer-Length", "")

	d := ts.tusNew(t, -1)
	h = tusHead(t, d)
	wantStatus(t, h, nil, http.StatusOK)
	wantHeader(t, h, "Upload-Offset", "0")
	wantHeader(t, h, "Upload-Defer-Length", "1")
	wantHeader(t, h, "Upload-Length", "")

	// An unfinished upload is not served.
	g, gb := get(t, loc)
	wantStatus(t, g, gb, http.StatusNotFound)

	h = tusHead(t, ts.URL+"/files/0123456789abcdef0123456789abcdef")
	wantStatus(t, h, nil, http.StatusNotFound)
	wantTusResumable(t, h)
}

func TestTusExpired(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) { c.Resumable.SessionTTL = config.Duration(50 * time.Millisecond) })
	u := ts.tusNew(t, 10)
	time.Sleep(150 * time.Millisecond)
	h := tusHead(t, u)
	wantStatus(t, h, nil, http.StatusGone)
	wantTusResumable(t, h)
	resp, body := tusPatch(t, u, 0, []byte("0123456789"))
	wantStatus(t, resp, body, http.StatusGone)
}

// creation-with-upload keeps the body; Upload-Length: 0 is complete at creation.
func TestTusCreationWithUpload(t *testing.T) {
	ts := newTestServer(t)
	data := pattern(1000, 5)
	resp, body := ts.tusPost(t, data[:400], "Upload-Length", "1000", "Content-Type", "application/offset+octet-stream")
	wantStatus(t, resp, body, http.StatusCreated)
	wantHeader(t, resp, "Upload-Offset", "400")
	loc := resp.Header.Get("Location")
	h := tusHead(t, loc)
	wantHeader(t, h, "Upload-Offset", "400")
	p, pb := tusPatch(t, loc, 400, data[400:])
	wantStatus(t, p, pb, http.StatusNoContent)
	wantHeader(t, p, "Upload-Offset", "1000")
	wantGetSHA256(t, loc, data)

	// The whole file in the creation request.
	resp, body = ts.tusPost(t, data, "Upload-Length", "1000", "Content-Type", "application/offset+octet-stream")
	wantStatus(t, resp, body, http.StatusCreated)
	wantHeader(t, resp, "Upload-Offset", "1000")
	wantGetSHA256(t, resp.Header.Get("Location"), data)

	// A body with another Content-Type is not upload data.
	resp, body = ts.tusPost(t, data[:10], "Upload-Length", "1000", "Content-Type", "text/plain")
	wantStatus(t, resp, body, http.StatusCreated)
	wantHeader(t, resp, "Upload-Offset", "0")

	resp, body = ts.tusPost(t, nil, "Upload-Length", "0")
	wantStatus(t, resp, body, http.StatusCreated)
	wantHeader(t, resp, "Upload-Offset", "0")
	loc = resp.Header.Get("Location")
	g, gb := get(t, loc)
	wantStatus(t, g, gb, http.StatusOK)
	if len(gb) != 0 {
		t.Fatalf("empty upload served %d bytes", len(gb))
	}
}

// A token names the target: slot/filename, and its filesize must be the Upload-Length.
func TestTusCreateWithToken(t *testing.T) {
	ts := newTestServer(t)
	data := pattern(300, 6)
	tok := bearer(tokenClaims("slot7", "report.pdf", len(data)))
	resp, body := do(t, request(t, http.MethodPost, ts.URL+"/files/", nil,
		"Tus-Resumable", tusVer, "Upload-Length", "300", "Authorization", tok))
	wantStatus(t, resp, body, http.StatusCreated)
	u := resp.Header.Get("Location")
	// The upload URL is the capability: no credential from here on.
	p, pb := tusPatch(t, u, 0, data)
	wantStatus(t, p, pb, http.StatusNoContent)
	wantHeader(t, p, "Upload-Offset", "300")
	ts.assertStored(t, "slot7/report.pdf", data)
}

// metadata filename names the file under the upload id, and its type.
func TestTusMetadataFilename(t *testing.T) {
	ts := newTestServer(t)
	data := pattern(2000, 7)
	u := ts.tusNew(t, len(data), "Upload-Metadata", "filename "+testkit.B64("x.png"))
	p, pb := tusPatch(t, u, 0, data)
	wantStatus(t, p, pb, http.StatusNoContent)
	ts.assertStored(t, uploadID(u)+"/x.png", data)
	g := wantGetSHA256(t, u, data)
	wantHeader(t, g, "Content-Type", "image/png")
	g, gb := get(t, ts.fileURL(uploadID(u)+"/x.png"))
	wantStatus(t, g, gb, http.StatusOK)
	wantHeader(t, g, "Content-Type", "image/png")
}

func TestTusPatchRefusals(t *testing.T) {
	ts := newTestServer(t)
	u := ts.tusNew(t, 10)
	if p, pb := tusPatch(t, u, 0, []byte("01234")); p.StatusCode != http.StatusNoContent {
		t.Fatalf("first PATCH: %d %q", p.StatusCode, pb)
	}
	ct := "application/offset+octet-stream"
	tests := []struct {
		name string
		hdr  []string
		body string
		want int
	}{
		{"no content type", []string{"Upload-Offset", "5"}, "56789", http.StatusUnsupportedMediaType},
		{"wrong content type", []string{"Content-Type", "application/octet-stream", "Upload-Offset", "5"}, "56789", http.StatusUnsupportedMediaType},
		{"missing offset", []string{"Content-Type", ct}, "56789", http.StatusBadRequest},
		{"garbage offset", []string{"Content-Type", ct, "Upload-Offset", "five"}, "56789", http.StatusBadRequest},
		{"negative offset", []string{"Content-Type", ct, "Upload-Offset", "-5"}, "56789", http.StatusBadRequest},
		{"offset behind", []string{"Content-Type", ct, "Upload-Offset", "3"}, "XXXXXXX", http.StatusConflict},
		{"offset ahead", []string{"Content-Type", ct, "Upload-Offset", "7"}, "XXX", http.StatusConflict},
		{"unsupported checksum", []string{"Content-Type", ct, "Upload-Offset", "5", "Upload-Checksum", "sha512 " + testkit.B64("x")}, "XXXXX", http.StatusBadRequest},
		{"malformed checksum", []string{"Content-Type", ct, "Upload-Offset", "5", "Upload-Checksum", "sha1"}, "XXXXX", http.StatusBadRequest},
		{"other length", []string{"Content-Type", ct, "Upload-Offset", "5", "Upload-Length", "11"}, "XXXXX", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, request(t, http.MethodPatch, u, strings.NewReader(tt.body), append([]string{"Tus-Resumable", tusVer}, tt.hdr...)...))
			wantStatus(t, resp, body, tt.want)
			wantTusResumable(t, resp)
			if tt.want == http.StatusConflict {
				wantHeader(t, resp, "Upload-Offset", "5")
			}
			h := tusHead(t, u)
			wantHeader(t, h, "Upload-Offset", "5")
		})
	}
	resp, body := tusPatch(t, ts.URL+"/files/0123456789abcdef0123456789abcdef", 0, []byte("x"))
	wantStatus(t, resp, body, http.StatusNotFound)
	wantTusResumable(t, resp)
	// Nothing a refused PATCH sent reached the file.
	p, pb := tusPatch(t, u, 5, []byte("56789"))
	wantStatus(t, p, pb, http.StatusNoContent)
	wantHeader(t, p, "Upload-Offset", "10")
	wantGetSHA256(t, u, []byte("0123456789"))
}

// PATCHes build the file; the finished upload is served with ranges, and a lost final
// answer can be asked again.
func TestTusPatchAndDownload(t *testing.T) {
	ts := newTestServer(t)
	data := pattern(100000, 8)
	u := ts.tusNew(t, len(data))
	for off := 0; off < len(data); off += 30000 {
		end := min(off+30000, len(data))
		resp, body := tusPatch(t, u, off, data[off:end])
		wantStatus(t, resp, body, http.StatusNoContent)
		wantTusResumable(t, resp)
		wantHeader(t, resp, "Upload-Offset", strconv.Itoa(end))
		if end < len(data) && resp.Header.Get("Upload-Expires") == "" {
			t.Errorf("PATCH of an unfinished upload lacks Upload-Expires")
		}
	}
	h := tusHead(t, u)
	wantStatus(t, h, nil, http.StatusOK)
	wantHeader(t, h, "Upload-Offset", strconv.Itoa(len(data)))
	wantGetSHA256(t, u, data)
	r, rb := get(t, u, "Range", "bytes=1000-1999")
	wantStatus(t, r, rb, http.StatusPartialContent)
	if !bytes.Equal(rb, data[1000:2000]) {
		t.Fatalf("range GET returned the wrong bytes")
	}
	// The retry of the last PATCH whose answer was lost.
	resp, body := tusPatch(t, u, len(data), nil)
	wantStatus(t, resp, body, http.StatusNoContent)
	wantHeader(t, resp, "Upload-Offset", strconv.Itoa(len(data)))
	// More data for a finished upload is refused.
	resp, body = tusPatch(t, u, len(data), []byte("more"))
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Fatalf("PATCH with data after completion: status %d (%q), want 4xx", resp.StatusCode, body)
	}
	wantGetSHA256(t, u, data)
}

// creation-defer-length: a later PATCH declares the length.
func TestTusDeferredLength(t *testing.T) {
	ts := newTestServer(t)
	data := pattern(5000, 9)
	u := ts.tusNew(t, -1)
	resp, body := tusPatch(t, u, 0, data[:3000])
	wantStatus(t, resp, body, http.StatusNoContent)
	wantHeader(t, resp, "Upload-Offset", "3000")
	h := tusHead(t, u)
	wantHeader(t, h, "Upload-Defer-Length", "1")
	wantHeader(t, h, "Upload-Offset", "3000")
	// A length below the offset is refused.
	resp, body = tusPatch(t, u, 3000, data[3000:], "Upload-Length", "2000")
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Fatalf("Upload-Length below the offset: status %d (%q), want 4xx", resp.StatusCode, body)
	}
	resp, body = tusPatch(t, u, 3000, data[3000:], "Upload-Length", "5000")
	wantStatus(t, resp, body, http.StatusNoContent)
	wantHeader(t, resp, "Upload-Offset", "5000")
	h = tusHead(t, u)
	wantHeader(t, h, "Upload-Length", "5000")
	wantHeader(t, h, "Upload-Defer-Length", "")
	wantGetSHA256(t, u, data)
}

// Bytes past Upload-Length are refused with 413; the offset never passes the length, and an
// upload whose offset reached its length is complete.
func TestTusBeyondLength(t *testing.T) {
	ts := newTestServer(t)
	data := pattern(1000, 10)
	u := ts.tusNew(t, len(data))
	resp, body := tusPatch(t, u, 0, append(data[:len(data):len(data)], "extra bytes"...))
	wantStatus(t, resp, body, http.StatusRequestEntityTooLarge)
	wantTusResumable(t, resp)
	h := tusHead(t, u)
	wantStatus(t, h, nil, http.StatusOK)
	off := headerInt(t, h, "Upload-Offset")
	if off > int64(len(data)) {
		t.Fatalf("offset %d passed the length %d", off, len(data))
	}
	if off < int64(len(data)) {
		resp, body = tusPatch(t, u, int(off), data[off:])
		wantStatus(t, resp, body, http.StatusNoContent)
	}
	wantGetSHA256(t, u, data)

	// The PATCH's bytes reach the length, then more follow: the upload is complete with
	// exactly its length, and the excess is refused.
	u = ts.tusNew(t, len(data))
	rc := ts.dial(t)
	rc.write(rawRequest(http.MethodPatch, pathAndQuery(t, u), "Tus-Resumable", tusVer, "Content-Type", "application/offset+octet-stream",
		"Upload-Offset", "0", "Content-Length", strconv.Itoa(len(data)+5)))
	rc.write(string(data))
	ts.waitPartialSize(t, uploadID(u), int64(len(data)))
	rc.write("extra")
	resp, body = rc.readResponse(http.MethodPatch)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("PATCH past the length: status %d (%q), want 413", resp.StatusCode, body)
	}
	h = tusHead(t, u)
	wantHeader(t, h, "Upload-Offset", strconv.Itoa(len(data)))
	wantGetSHA256(t, u, data)

	// Same with a deferred length declared in the offending PATCH.
	d := ts.tusNew(t, -1)
	resp, body = tusPatch(t, d, 0, pattern(20, 1), "Upload-Length", "10")
	wantStatus(t, resp, body, http.StatusRequestEntityTooLarge)
	h = tusHead(t, d)
	if off := headerInt(t, h, "Upload-Offset"); off > 10 {
		t.Fatalf("offset %d passed the length 10", off)
	}
}

func TestTusChecksum(t *testing.T) {
	ts := newTestServer(t)
	chunk := []byte("the quick brown fox jumps over the lazy dog")
	digest := func(algo string, b []byte) string {
		var sum []byte
		switch algo {
		case "sha1":
			s := sha1.Sum(b)
			sum = s[:]
		case "sha256":
			s := sha256.Sum256(b)
			sum = s[:]
		case "md5":
			s := md5.Sum(b)
			sum = s[:]
		case "crc32":
			h := crc32.NewIEEE()
			h.Write(b)
			sum = h.Sum(nil)
		}
		return algo + " " + base64.StdEncoding.EncodeToString(sum)
	}
	for _, algo := range []string{"sha1", "sha256", "md5", "crc32"} {
		t.Run(algo, func(t *testing.T) {
			u := ts.tusNew(t, 2*len(chunk))
			resp, body := tusPatch(t, u, 0, chunk, "Upload-Checksum", digest(algo, chunk))
			wantStatus(t, resp, body, http.StatusNoContent)
			wantHeader(t, resp, "Upload-Offset", strconv.Itoa(len(chunk)))

			bad := bytes.ToUpper(chunk)
			resp, body = tusPatch(t, u, len(chunk), bad, "Upload-Checksum", digest(algo, chunk))
			wantStatus(t, resp, body, 460)
			wantTusResumable(t, resp)
			h := tusHead(t, u)
			wantHeader(t, h, "Upload-Offset", strconv.Itoa(len(chunk)))

			resp, body = tusPatch(t, u, len(chunk), chunk, "Upload-Checksum", digest(algo, chunk))
			wantStatus(t, resp, body, http.StatusNoContent)
			wantGetSHA256(t, u, append(append([]byte{}, chunk...), chunk...))
		})
	}
}

func TestTusDelete(t *testing.T) {
	ts := newTestServer(t)
	u := ts.tusNew(t, 100)
	resp, body := tusPatch(t, u, 0, pattern(40, 11))
	wantStatus(t, resp, body, http.StatusNoContent)
	if _, err := os.Stat(ts.partialPath(uploadID(u))); err != nil {
		t.Fatalf("partial data of an unfinished upload: %v", err)
	}
	d, db := do(t, request(t, http.MethodDelete, u, nil, "Tus-Resumable", tusVer))
	wantStatus(t, d, db, http.StatusNoContent)
	wantTusResumable(t, d)
	h := tusHead(t, u)
	wantStatus(t, h, nil, http.StatusNotFound)
	if _, err := os.Stat(ts.partialPath(uploadID(u))); !os.IsNotExist(err) {
		t.Fatalf("partial data still there after DELETE (%v)", err)
	}
	resp, body = tusPatch(t, u, 40, pattern(60, 11))
	wantStatus(t, resp, body, http.StatusNotFound)
	d, db = do(t, request(t, http.MethodDelete, u, nil, "Tus-Resumable", tusVer))
	wantStatus(t, d, db, http.StatusNotFound)
}

func TestTusConcatenation(t *testing.T) {
	ts := newTestServer(t)
	a, b := pattern(3000, 12), pattern(2000, 13)
	partial := func(data []byte) string {
		u := ts.tusNew(t, len(data), "Upload-Concat", "partial")
		h := tusHead(t, u)
		wantHeader(t, h, "Upload-Concat", "partial")
		resp, body := tusPatch(t, u, 0, data)
		wantStatus(t, resp, body, http.StatusNoContent)
		return u
	}
	ua, ub := partial(a), partial(b)
	// A partial upload is never served on its own.
	g, gb := get(t, ua)
	wantStatus(t, g, gb, http.StatusNotFound)

	rel := "/files/" + uploadID(ua)
	resp, body := ts.tusPost(t, nil, "Upload-Concat", "final;"+rel+" "+ub)
	wantStatus(t, resp, body, http.StatusCreated)
	wantTusResumable(t, resp)
	final := resp.Header.Get("Location")
	want := append(append([]byte{}, a...), b...)
	wantGetSHA256(t, final, want)

	h := tusHead(t, final)
	wantStatus(t, h, nil, http.StatusOK)
	wantHeader(t, h, "Upload-Length", strconv.Itoa(len(want)))
	c := h.Header.Get("Upload-Concat")
	if !strings.HasPrefix(c, "final;") || !strings.Contains(c, uploadID(ua)) || !strings.Contains(c, uploadID(ub)) ||
		strings.Index(c, uploadID(ua)) > strings.Index(c, uploadID(ub)) {
		t.Fatalf("HEAD on the final upload: Upload-Concat %q, want final; with both parts in order", c)
	}
	p, pb := tusPatch(t, final, len(want), []byte("x"))
	wantStatus(t, p, pb, http.StatusForbidden)
	wantTusResumable(t, p)

	// A final upload may not carry Upload-Length.
	resp, body = ts.tusPost(t, nil, "Upload-Concat", "final;"+rel, "Upload-Length", "3000")
	wantStatus(t, resp, body, http.StatusBadRequest)

	// A final upload naming an unfinished partial upload is refused.
	uc := ts.tusNew(t, 100, "Upload-Concat", "partial")
	resp, body = ts.tusPost(t, nil, "Upload-Concat", "final;"+ua+" "+uc)
	wantStatus(t, resp, body, http.StatusBadRequest)
	// ... and so is one naming an upload that is not partial, or none at all.
	plain := ts.tusNew(t, 5)
	tusPatch(t, plain, 0, []byte("12345"))
	resp, body = ts.tusPost(t, nil, "Upload-Concat", "final;"+ua+" "+plain)
	wantStatus(t, resp, body, http.StatusBadRequest)
	resp, body = ts.tusPost(t, nil, "Upload-Concat", "final;/files/0123456789abcdef0123456789abcdef")
	wantStatus(t, resp, body, http.StatusBadRequest)
	resp, body = ts.tusPost(t, nil, "Upload-Concat", "final;")
	wantStatus(t, resp, body, http.StatusBadRequest)
}

// X-HTTP-Method-Override lets a client that can only POST speak tus.
func TestTusMethodOverride(t *testing.T) {
	ts := newTestServer(t)
	u := ts.tusNew(t, 5)
	resp, body := do(t, request(t, http.MethodPost, u, strings.NewReader("hello"), "Tus-Resumable", tusVer,
		"X-HTTP-Method-Override", "PATCH", "Content-Type", "application/offset+octet-stream", "Upload-Offset", "0"))
	wantStatus(t, resp, body, http.StatusNoContent)
	wantHeader(t, resp, "Upload-Offset", "5")
	wantGetSHA256(t, u, []byte("hello"))
}
