package handlers_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"fileserver/internal/config"
	"fileserver/internal/handlers"
)

// Hand-off: a request that stalls mid-body holds its upload only until a newer request for
// the same upload arrives. The newer one cuts it off at once (no timeout, no polling), the
// stale one persists what it received, and the newer one sees that offset.

// waitPartialSize waits (bounded) until the server has written n bytes of upload id to its
// partial file: the stale request has read them.
func (ts *testServer) waitPartialSize(t *testing.T, id string, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := os.Stat(ts.partialPath(id))
		if err == nil && st.Size() == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server never wrote the %d bytes sent (partial file: %v, %v)", n, st, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// boundedDo sends req and fails the test if no response arrives within 5 s; it returns the
// response and how long it took.
func boundedDo(t *testing.T, req *http.Request) (*http.Response, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(req.Context(), 5*time.Second)
	defer cancel()
	start := time.Now()
	resp, err := client.Do(req.WithContext(ctx))
	took := time.Since(start)
	if err != nil {
		t.Fatalf("%s %s while a stale request holds the upload: %v (after %v)", req.Method, req.URL.Path, err, took)
	}
	resp.Body.Close()
	return resp, took
}

// stalePatch opens a raw connection, sends the head of a PATCH announcing total bytes and
// then the first sent bytes of data, and leaves it stalled until the server has read them.
func (ts *testServer) stalePatch(t *testing.T, u string, off int, data []byte, sent int, hdr ...string) *rawConn {
	t.Helper()
	rc := ts.dial(t)
	h := append(hdr, "Upload-Offset", strconv.Itoa(off), "Content-Length", strconv.Itoa(len(data)))
	rc.write(rawRequest(http.MethodPatch, pathAndQuery(t, u), h...))
	rc.write(string(data[:sent]))
	ts.waitPartialSize(t, uploadID(u), int64(off+sent))
	return rc
}

func TestHandoffTusHead(t *testing.T) {
	ts := newTestServer(t)
	data := pattern(200000, 21)
	u := ts.tusNew(t, len(data))
	const sent = 70000
	ts.stalePatch(t, u, 0, data, sent, "Tus-Resumable", tusVer, "Content-Type", "application/offset+octet-stream")

	resp, took := boundedDo(t, request(t, http.MethodHead, u, nil, "Tus-Resumable", tusVer))
	t.Logf("tus hand-off latency (HEAD while a stale PATCH holds the upload): %v", took)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD: status %d, want 200", resp.StatusCode)
	}
	wantHeader(t, resp, "Upload-Offset", strconv.Itoa(sent))

	p, pb := tusPatch(t, u, sent, data[sent:])
	wantStatus(t, p, pb, http.StatusNoContent)
	wantHeader(t, p, "Upload-Offset", strconv.Itoa(len(data)))
	wantGetSHA256(t, u, data)
}

// A new PATCH does not cut off a request that is still receiving (409, and the first one
// goes on), but takes over, without a HEAD first, from one that has received nothing for
// resumable.stale_after.
func TestHandoffTusPatch(t *testing.T) {
	const staleAfter = time.Second
	ts := newTestServer(t, func(c *config.Config) { c.Resumable.StaleAfter = config.Duration(staleAfter) })
	data := pattern(100000, 22)
	u := ts.tusNew(t, len(data))
	const sent = 30000
	ts.stalePatch(t, u, 0, data, sent, "Tus-Resumable", tusVer, "Content-Type", "application/offset+octet-stream")

	patch := func() *http.Response {
		req := request(t, http.MethodPatch, u, nil, "Tus-Resumable", tusVer, "Content-Type", "application/offset+octet-stream",
			"Upload-Offset", strconv.Itoa(sent))
		req.Body, req.ContentLength = nopCloser(data[sent:]), int64(len(data)-sent)
		resp, took := boundedDo(t, req)
		t.Logf("PATCH while another PATCH holds the upload: %d after %v", resp.StatusCode, took)
		return resp
	}
	// The holder read its last byte just now: it keeps the upload.
	if resp := patch(); resp.StatusCode != http.StatusConflict {
		t.Fatalf("PATCH while the holder still receives: status %d, want 409", resp.StatusCode)
	}
	time.Sleep(staleAfter + 50*time.Millisecond)
	if resp := patch(); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH once the holder is stale: status %d, want 204", resp.StatusCode)
	}
	wantGetSHA256(t, u, data)
}

func TestHandoffIETFHead(t *testing.T) {
	ts := newTestServer(t)
	data := pattern(150000, 23)
	resp, body := ts.ietfPost(t, nil, "?0")
	wantStatus(t, resp, body, http.StatusCreated)
	u := resp.Header.Get("Location")
	const sent = 50000
	ts.stalePatch(t, u, 0, data, sent, "Upload-Draft-Interop-Version", "8", "Upload-Complete", "?1",
		"Content-Type", "application/partial-upload")

	h, took := boundedDo(t, request(t, http.MethodHead, u, nil, "Upload-Draft-Interop-Version", "8"))
	t.Logf("IETF hand-off latency (HEAD while a stale PATCH holds the upload): %v", took)
	if h.StatusCode != http.StatusNoContent {
		t.Fatalf("HEAD: status %d, want 204", h.StatusCode)
	}
	wantHeader(t, h, "Upload-Offset", strconv.Itoa(sent))
	wantHeader(t, h, "Upload-Complete", "?0")

	p, pb := ietfPatch(t, u, sent, data[sent:], "?1")
	if p.StatusCode/100 != 2 {
		t.Fatalf("completing PATCH: status %d (%q)", p.StatusCode, pb)
	}
	wantHeader(t, p, "Upload-Complete", "?1")
	wantGetSHA256(t, ts.fileURL(uploadID(u)), data)
}

// A stale PATCH that delivered the upload's last byte but not the end of its (chunked) body
// still completes the upload: a HEAD that reports the offset equal to the length must not
// leave the file uncommitted, or a client that believes it done never gets it served.
func TestHandoffStaleRequestHadEveryByte(t *testing.T) {
	ts := newTestServer(t)
	data := pattern(5000, 24)
	u := ts.tusNew(t, len(data))
	rc := ts.dial(t)
	rc.write(rawRequest(http.MethodPatch, pathAndQuery(t, u), "Tus-Resumable", tusVer,
		"Content-Type", "application/offset+octet-stream", "Upload-Offset", "0", "Transfer-Encoding", "chunked"))
	rc.write(fmt.Sprintf("%x\r\n%s\r\n", len(data), data))
	ts.waitPartialSize(t, uploadID(u), int64(len(data)))

	h, _ := boundedDo(t, request(t, http.MethodHead, u, nil, "Tus-Resumable", tusVer))
	if h.StatusCode != http.StatusOK {
		t.Fatalf("HEAD: status %d, want 200", h.StatusCode)
	}
	wantHeader(t, h, "Upload-Offset", strconv.Itoa(len(data)))
	wantGetSHA256(t, u, data)
}

// putSessionID is the id the server keys a signed path's PUT session by.
func (ts *testServer) putSessionID(name string) string { return handlers.PutSessionID(ts.h, name) }

// A plain PUT that stalls mid-body: HEAD on its signed URL takes the upload over at once and
// reports the bytes that arrived, and a Content-Range PUT finishes it.
func TestHandoffHeadCutsStalledPlainPut(t *testing.T) {
	ts := newTestServer(t)
	body := pattern(200_000, 9)
	u := ts.v1URL("stalled.bin", len(body))
	rc := ts.dial(t)
	rc.write(rawRequest(http.MethodPut, pathAndQuery(t, u), "Content-Length", strconv.Itoa(len(body))))
	rc.write(string(body[:70_000]))
	ts.waitPartialSize(t, ts.putSessionID("stalled.bin"), 70_000)
	resp, took := boundedDo(t, request(t, http.MethodHead, u, nil))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Upload-Offset") != "70000" {
		t.Fatalf("HEAD during a stalled PUT: %d, Upload-Offset %q", resp.StatusCode, resp.Header.Get("Upload-Offset"))
	}
	t.Logf("hand-off from a stalled plain PUT took %v", took)
	rest, _ := put(t, u, body[70_000:], "Content-Range", fmt.Sprintf("bytes 70000-%d/%d", len(body)-1, len(body)))
	if rest.StatusCode != http.StatusCreated {
		t.Fatalf("finishing PUT: %d", rest.StatusCode)
	}
	ts.assertStored(t, "stalled.bin", body)
	// An unsigned HEAD cannot take anyone's upload: it is just a download HEAD.
	if r, _ := do(t, request(t, http.MethodHead, ts.fileURL("other.bin")+"?v=00", nil)); r.StatusCode != http.StatusNotFound {
		t.Fatalf("HEAD with a bogus signature and no upload: %d", r.StatusCode)
	}
}

// The default path reserves the announced length on disk: an interrupted PATCH still leaves
// exactly the acknowledged bytes, and the upload finishes intact.
func TestPreallocatedResumable(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) { c.Storage.Preallocate = true })
	data := pattern(300_000, 5)
	u := ts.tusCreateForLimits(t, len(data))
	rc := ts.dial(t)
	rc.write(rawRequest(http.MethodPatch, pathAndQuery(t, u), "Tus-Resumable", "1.0.0",
		"Content-Type", "application/offset+octet-stream", "Upload-Offset", "0",
		"Content-Length", strconv.Itoa(len(data))))
	rc.write(string(data[:100_000]))
	rc.c.Close()
	// A HEAD takes the upload over from the cut-off PATCH whenever it arrives; give the
	// server a moment to read what was sent, though any offset up to it is correct.
	time.Sleep(100 * time.Millisecond)
	head, _ := do(t, request(t, http.MethodHead, u, nil, "Tus-Resumable", "1.0.0"))
	off, err := strconv.Atoi(head.Header.Get("Upload-Offset"))
	if err != nil || off < 0 || off > 100_000 {
		t.Fatalf("offset after the interrupted PATCH: %q", head.Header.Get("Upload-Offset"))
	}
	if st, err := os.Stat(ts.partialPath(uploadID(u))); err != nil || st.Size() != int64(off) {
		t.Fatalf("partial file %v bytes, want the acknowledged %d (reservation given back)", st, off)
	}
	resp, body := do(t, request(t, http.MethodPatch, u, bytes.NewReader(data[off:]), "Tus-Resumable", "1.0.0",
		"Content-Type", "application/offset+octet-stream", "Upload-Offset", strconv.Itoa(off)))
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("rest: %d %q", resp.StatusCode, body)
	}
	wantGetSHA256(t, u, data)
}
