package handlers_test

import (
	"bytes"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Content-Range PUT on signed XEP-0363 URLs: the MAC covers the upload's total length, an
// interrupted PUT keeps its bytes, HEAD on the signed URL tells where to continue.

// rangePut sends one Content-Range piece to u.
func rangePut(t *testing.T, u, contentRange string, body []byte, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	return put(t, u, body, append([]string{"Content-Range", contentRange}, hdr...)...)
}

// signedHead asks the offset of the upload at a signed URL.
func signedHead(t *testing.T, u string) *http.Response {
	t.Helper()
	resp, _ := do(t, request(t, http.MethodHead, u, nil))
	return resp
}

func TestRangePutPieces(t *testing.T) {
	ts := newTestServer(t)
	data := []byte("0123456789")
	const name = "cr/a.bin"
	u := ts.v1URL(name, len(data))

	resp, body := rangePut(t, u, "bytes 0-4/10", data[:5])
	wantStatus(t, resp, body, http.StatusNoContent)
	wantHeader(t, resp, "Upload-Offset", "5")

	h := signedHead(t, u)
	wantStatus(t, h, nil, http.StatusOK)
	wantHeader(t, h, "Upload-Offset", "5")
	wantHeader(t, h, "Upload-Length", "10")
	wantHeader(t, h, "Cache-Control", "no-store")
	// Nothing partial is served.
	g, gb := get(t, ts.fileURL(name))
	wantStatus(t, g, gb, http.StatusNotFound)

	tests := []struct {
		name  string
		url   string
		crng  string
		body  []byte
		want  int
		wantO string
	}{
		{"gap", u, "bytes 7-9/10", data[7:], http.StatusConflict, "5"},
		{"overlap", u, "bytes 3-9/10", data[3:], http.StatusConflict, "5"},
		{"where to continue", u, "bytes */10", nil, http.StatusNoContent, "5"},
		{"content-length disagrees", u, "bytes 5-9/10", data[5:9], http.StatusBadRequest, ""},
		{"no unit", u, "5-9/10", data[5:], http.StatusBadRequest, ""},
		{"other unit", u, "items 5-9/10", data[5:], http.StatusBadRequest, ""},
		{"unknown total", u, "bytes 5-9/*", data[5:], http.StatusBadRequest, ""},
		{"reversed", u, "bytes 9-5/10", data[5:], http.StatusBadRequest, ""},
		{"past total", u, "bytes 5-10/10", data[4:], http.StatusBadRequest, ""},
		{"garbage", u, "bytes five-nine/ten", data[5:], http.StatusBadRequest, ""},
		{"signed over the piece length", ts.v1URL(name, 5), "bytes 5-9/10", data[5:], http.StatusForbidden, ""},
		{"other total", ts.v1URL(name, 12), "bytes 5-9/12", data[5:], http.StatusConflict, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := rangePut(t, tt.url, tt.crng, tt.body)
			wantStatus(t, resp, body, tt.want)
			if tt.wantO != "" {
				wantHeader(t, resp, "Upload-Offset", tt.wantO)
			}
			wantHeader(t, signedHead(t, u), "Upload-Offset", "5")
		})
	}

	resp, body = rangePut(t, u, "bytes 5-9/10", data[5:])
	wantStatus(t, resp, body, http.StatusCreated)
	wantHeader(t, resp, "Location", ts.fileURL(name))
	ts.assertStored(t, name, data)
	// Done: the name is taken.
	resp, body = rangePut(t, u, "bytes 0-9/10", data)
	wantStatus(t, resp, body, http.StatusConflict)
	ts.assertStored(t, name, data)
}

// v2 binds the total length and the type; a token binds the total as its filesize.
func TestRangePutV2AndToken(t *testing.T) {
	ts := newTestServer(t)
	data := pattern(4000, 41)
	u := ts.v2URL("cr/b.txt", len(data), "text/plain")
	resp, body := rangePut(t, u, "bytes 0-999/4000", data[:1000], "Content-Type", "text/plain")
	wantStatus(t, resp, body, http.StatusNoContent)
	resp, body = rangePut(t, u, "bytes 1000-3999/4000", data[1000:], "Content-Type", "text/plain")
	wantStatus(t, resp, body, http.StatusCreated)
	g := wantGetSHA256(t, ts.fileURL("cr/b.txt"), data)
	if ct := g.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want text/plain", ct)
	}

	tok := bearer(tokenClaims("slot9", "c.bin", len(data)))
	tu := ts.fileURL("slot9/c.bin")
	resp, body = rangePut(t, tu, "bytes 0-1999/4000", data[:2000], "Authorization", tok)
	wantStatus(t, resp, body, http.StatusNoContent)
	resp, body = rangePut(t, tu, "bytes 2000-3999/4001", data[2000:], "Authorization", tok)
	wantStatus(t, resp, body, http.StatusRequestEntityTooLarge)
	resp, body = rangePut(t, tu, "bytes 2000-3999/4000", data[2000:], "Authorization", tok)
	wantStatus(t, resp, body, http.StatusCreated)
	ts.assertStored(t, "slot9/c.bin", data)
}

// Without an upload in progress, only a piece starting at 0 is taken.
func TestRangePutNothingInProgress(t *testing.T) {
	ts := newTestServer(t)
	u := ts.v1URL("cr/none.bin", 10)
	resp, body := rangePut(t, u, "bytes 5-9/10", []byte("56789"))
	wantStatus(t, resp, body, http.StatusConflict)
	wantHeader(t, resp, "Upload-Offset", "0")
	resp, body = rangePut(t, u, "bytes */10", nil)
	wantStatus(t, resp, body, http.StatusConflict)
	wantHeader(t, resp, "Upload-Offset", "0")
	ts.assertNotStored(t, "cr/none.bin")
}

// interruptedPut sends the head of a plain PUT of data and sent of its bytes, then drops the
// connection, and waits until the server reports the upload's offset on the signed URL.
func (ts *testServer) interruptedPut(t *testing.T, u string, data []byte, sent int) {
	t.Helper()
	rc := ts.dial(t)
	rc.write(rawRequest(http.MethodPut, pathAndQuery(t, u), "Content-Length", strconv.Itoa(len(data))))
	rc.write(string(data[:sent]))
	rc.c.Close()
	// A HEAD takes the upload over at once, so first let the server read what was sent:
	// bytes still in the socket buffer when a HEAD cuts the PUT off are not kept.
	pu, _ := url.Parse(u)
	ts.waitPartialSize(t, ts.putSessionID(strings.TrimPrefix(pu.Path, ts.cfg.Upload.Prefix)), int64(sent))
	deadline := time.Now().Add(5 * time.Second)
	for {
		h := signedHead(t, u)
		if h.StatusCode == http.StatusOK && h.Header.Get("Upload-Offset") != "" {
			wantHeader(t, h, "Upload-Offset", strconv.Itoa(sent))
			wantHeader(t, h, "Upload-Length", strconv.Itoa(len(data)))
			return
		}
		if h.StatusCode != http.StatusNotFound || time.Now().After(deadline) {
			t.Fatalf("HEAD after an interrupted PUT: status %d, Upload-Offset %q", h.StatusCode, h.Header.Get("Upload-Offset"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRangePutResumesInterruptedPut(t *testing.T) {
	ts := newTestServer(t)
	data := pattern(200000, 42)
	const name = "cr/resumed.bin"
	u := ts.v1URL(name, len(data))
	const sent = 80000
	ts.interruptedPut(t, u, data, sent)
	ts.assertNotStored(t, name)
	resp, body := rangePut(t, u, "bytes "+strconv.Itoa(sent)+"-"+strconv.Itoa(len(data)-1)+"/"+strconv.Itoa(len(data)), data[sent:])
	wantStatus(t, resp, body, http.StatusCreated)
	wantGetSHA256(t, ts.fileURL(name), data)
}

// A client that knows nothing of resuming simply PUTs the whole file again.
func TestRangePutFullRetryAfterInterruption(t *testing.T) {
	ts := newTestServer(t)
	data := pattern(150000, 43)
	const name = "cr/retried.bin"
	u := ts.v1URL(name, len(data))
	ts.interruptedPut(t, u, data, 60000)
	resp, body := put(t, u, data)
	wantStatus(t, resp, body, http.StatusCreated)
	wantGetSHA256(t, ts.fileURL(name), data)
	// The interrupted attempt left nothing behind.
	left, _ := filepath.Glob(filepath.Join(ts.dataDir, "partial", "*"))
	if len(left) != 0 {
		t.Errorf("partial data left after the retry: %v", left)
	}
	if h := signedHead(t, u); h.Header.Get("Upload-Offset") != "" {
		t.Errorf("HEAD after completion still reports an upload in progress")
	}
}

// curl -C OFFSET -T FILE URL continues an interrupted upload.
func TestRangePutCurlContinue(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	ts := newTestServer(t)
	data := pattern(300000, 44)
	const name = "cr/curl.bin"
	u := ts.v1URL(name, len(data))
	const sent = 123457
	ts.interruptedPut(t, u, data, sent)
	file := filepath.Join(t.TempDir(), "curl.bin")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	cmd := exec.Command(curl, "-sS", "-C", strconv.Itoa(sent), "-T", file, "-o", os.DevNull, "-w", "%{http_code}", u)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("curl: %v (%s)", err, errb.String())
	}
	if out.String() != "201" {
		t.Fatalf("curl -C %d: status %s, want 201 (%s)", sent, out.String(), errb.String())
	}
	wantGetSHA256(t, ts.fileURL(name), data)
}

// A HEAD without the upload's signature is answered as for any name: it does not tell
// whether an upload to the name is in progress.
func TestUnsignedHeadTellsNothingOfUploadInProgress(t *testing.T) {
	ts := newTestServer(t)
	data := pattern(1000, 3)
	resp, rb := rangePut(t, ts.v1URL("slot/secret-plan.pdf", len(data)), "bytes 0-99/1000", data[:100])
	wantStatus(t, resp, rb, http.StatusNoContent)
	bogus := "?v=" + strings.Repeat("0", 64)
	busy, _ := do(t, request(t, http.MethodHead, ts.fileURL("slot/secret-plan.pdf")+bogus, nil))
	idle, _ := do(t, request(t, http.MethodHead, ts.fileURL("slot/other.pdf")+bogus, nil))
	if busy.StatusCode != idle.StatusCode {
		t.Fatalf("unsigned HEAD: %d for a name with an upload in progress, %d for one without", busy.StatusCode, idle.StatusCode)
	}
}
