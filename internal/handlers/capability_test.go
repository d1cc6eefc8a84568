package handlers_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"

	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fileserver/internal/config"
	"fileserver/internal/storage"
)

// A resumable session is a capability: reachable only by whoever was given it. The session
// of a PUT belongs to whoever holds the signed URL of its name; the /files/ routes of tus and
// the IETF draft never reach it, whatever id an attacker tries.

// nameDerivedID is the id a PUT's session once had: derived from the name alone, so anyone
// who knew the name knew the id.
func nameDerivedID(name string) string {
	sum := sha256.Sum256([]byte("put\x00" + name))
	return "put-" + hex.EncodeToString(sum[:20])
}

// attackFiles sends every request the /files/ routes take to upload id, without any
// credential, and fails the test unless each is answered 404.
func (ts *testServer) attackFiles(t *testing.T, id string, off int) {
	t.Helper()
	u := ts.URL + "/files/" + id
	attempts := []*http.Request{
		request(t, http.MethodHead, u, nil, "Tus-Resumable", tusVer),
		request(t, http.MethodGet, u, nil),
		request(t, http.MethodPatch, u, strings.NewReader("attacker"), "Tus-Resumable", tusVer,
			"Content-Type", "application/offset+octet-stream", "Upload-Offset", strconv.Itoa(off)),
		request(t, http.MethodPatch, u, strings.NewReader("attacker"), "Tus-Resumable", tusVer,
			"Content-Type", "application/offset+octet-stream", "Upload-Offset", strconv.Itoa(off), "Upload-Length", "999999"),
		request(t, http.MethodHead, u, nil, "Upload-Draft-Interop-Version", "8"),
		request(t, http.MethodPatch, u, strings.NewReader("attacker"), "Upload-Draft-Interop-Version", "8",
			"Content-Type", "application/partial-upload", "Upload-Offset", strconv.Itoa(off), "Upload-Complete", "?0"),
		request(t, http.MethodDelete, u, nil, "Upload-Draft-Interop-Version", "8"),
		request(t, http.MethodDelete, u, nil, "Tus-Resumable", tusVer),
	}
	for _, req := range attempts {
		resp, body := do(t, req)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s %s %v: %d %q, want 404", req.Method, id, req.Header, resp.StatusCode, body)
		}
	}
}

// An attacker who knows the name of an upload in flight can neither cut it off nor throw its
// bytes away through /files/: the PUT goes on and completes.
func TestPutSessionNotReachableThroughFiles(t *testing.T) {
	ts := newTestServer(t)
	const name = "victim/in-flight.mp4"
	body := pattern(200_000, 31)
	u := ts.v1URL(name, len(body))
	rc := ts.dial(t)
	rc.write(rawRequest(http.MethodPut, pathAndQuery(t, u), "Content-Length", strconv.Itoa(len(body))))
	rc.write(string(body[:70_000]))
	id := ts.putSessionID(name)
	ts.waitPartialSize(t, id, 70_000)

	ts.attackFiles(t, nameDerivedID(name), 70_000)
	ts.attackFiles(t, id, 70_000)

	rc.write(string(body[70_000:]))
	resp, rb := rc.readResponse(http.MethodPut)
	wantStatus(t, resp, rb, http.StatusCreated)
	ts.assertStored(t, name, body)
}

// An interrupted PUT keeps its bytes for the holder of its signed URL only: an attacker's
// PATCH cannot add to it, declare its length or remove it, and the victim's Content-Range PUT
// completes it with the victim's bytes.
func TestInterruptedPutNotHijacked(t *testing.T) {
	ts := newTestServer(t)
	const name = "victim/interrupted.bin"
	data := pattern(150_000, 32)
	u := ts.v1URL(name, len(data))
	ts.interruptedPut(t, u, data, 60_000)

	ts.attackFiles(t, nameDerivedID(name), 60_000)
	ts.attackFiles(t, ts.putSessionID(name), 60_000)

	resp, body := rangePut(t, u, fmt.Sprintf("bytes 60000-%d/%d", len(data)-1, len(data)), data[60_000:])
	wantStatus(t, resp, body, http.StatusCreated)
	ts.assertStored(t, name, data)
}

// The session id of a PUT is keyed by the server's secret: unrelated to the name's hash, and
// different on a server with another secret.
func TestPutSessionIDKeyed(t *testing.T) {
	a := newTestServer(t)
	b := newTestServer(t, func(c *config.Config) { c.Auth.Secret = strings.Repeat("x", 40) })
	const name = "some/name.bin"
	ida, idb := a.putSessionID(name), b.putSessionID(name)
	if ida == nameDerivedID(name) || ida == idb || len(ida) < 4+32 {
		t.Fatalf("PUT session ids %q (secret a), %q (secret b), name hash %q: want distinct ids of >= 128 bits", ida, idb, nameDerivedID(name))
	}
}

// A Content-Range PUT is answered 2xx only when every byte it carried was stored; otherwise
// with an error status and the Upload-Offset to continue from, so curl reports a failure.
func TestRangePutCutOffIsNotSuccess(t *testing.T) {
	const total = 200_000
	data := pattern(total, 33)
	start := func(t *testing.T, mods ...func(*config.Config)) (*testServer, string) {
		ts := newTestServer(t, mods...)
		u := ts.v1URL("cr/cut.bin", total)
		ts.interruptedPut(t, u, data, 50_000)
		return ts, u
	}
	// rangeHead sends the head of a Content-Range PUT from 50000 on a raw connection.
	rangeHead := func(t *testing.T, ts *testServer, u, contentRange string, hdr ...string) *rawConn {
		rc := ts.dial(t)
		rc.write(rawRequest(http.MethodPut, pathAndQuery(t, u), append([]string{"Content-Range", contentRange}, hdr...)...))
		return rc
	}
	wantRefused := func(t *testing.T, rc *rawConn, offset int) {
		t.Helper()
		resp, body := rc.readResponse(http.MethodPut)
		if resp.StatusCode/100 == 2 {
			t.Fatalf("cut-off Content-Range PUT answered %d (%q), want an error status", resp.StatusCode, body)
		}
		wantHeader(t, resp, "Upload-Offset", strconv.Itoa(offset))
	}

	t.Run("client goes silent", func(t *testing.T) {
		ts, u := start(t, func(c *config.Config) { c.Upload.ReadIdleTimeout = config.Duration(300 * time.Millisecond) })
		rc := rangeHead(t, ts, u, fmt.Sprintf("bytes 50000-%d/%d", total-1, total), "Content-Length", strconv.Itoa(total-50_000))
		rc.write(string(data[50_000:80_000]))
		wantRefused(t, rc, 80_000)
	})
	t.Run("a HEAD takes the upload over", func(t *testing.T) {
		ts, u := start(t)
		rc := rangeHead(t, ts, u, fmt.Sprintf("bytes 50000-%d/%d", total-1, total), "Content-Length", strconv.Itoa(total-50_000))
		rc.write(string(data[50_000:80_000]))
		ts.waitPartialSize(t, ts.putSessionID("cr/cut.bin"), 80_000)
		if h := signedHead(t, u); h.Header.Get("Upload-Offset") != "80000" {
			t.Fatalf("HEAD: %d, Upload-Offset %q", h.StatusCode, h.Header.Get("Upload-Offset"))
		}
		wantRefused(t, rc, 80_000)
	})
	t.Run("chunked body shorter than the range", func(t *testing.T) {
		ts, u := start(t)
		rc := rangeHead(t, ts, u, fmt.Sprintf("bytes 50000-%d/%d", total-1, total), "Transfer-Encoding", "chunked")
		rc.write(fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", 10_000, data[50_000:60_000]))
		wantRefused(t, rc, 60_000)
	})
	t.Run("chunked body longer than the range", func(t *testing.T) {
		ts, u := start(t)
		rc := rangeHead(t, ts, u, fmt.Sprintf("bytes 50000-59999/%d", total), "Transfer-Encoding", "chunked")
		rc.write(fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", 20_000, data[50_000:70_000]))
		wantRefused(t, rc, 60_000)
	})
}

// A Content-Range PUT does not cut off a request for the same upload that is still
// receiving (the rule every resumable path follows): it gets 409, and the first completes.
func TestRangePutKeepsReceivingHolder(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) { c.Resumable.StaleAfter = config.Duration(time.Minute) })
	const total = 120_000
	data := pattern(total, 34)
	u := ts.v1URL("cr/held.bin", total)
	rc := ts.dial(t)
	rc.write(rawRequest(http.MethodPut, pathAndQuery(t, u), "Content-Range", fmt.Sprintf("bytes 0-%d/%d", total-1, total),
		"Content-Length", strconv.Itoa(total)))
	rc.write(string(data[:40_000]))
	ts.waitPartialSize(t, ts.putSessionID("cr/held.bin"), 40_000)

	other := pattern(total, 99)
	resp, body := rangePut(t, u, fmt.Sprintf("bytes 0-%d/%d", total-1, total), other)
	wantStatus(t, resp, body, http.StatusConflict)
	resp, body = rangePut(t, u, fmt.Sprintf("bytes 40000-%d/%d", total-1, total), other[40_000:])
	wantStatus(t, resp, body, http.StatusConflict)

	rc.write(string(data[40_000:]))
	first, fb := rc.readResponse(http.MethodPut)
	wantStatus(t, first, fb, http.StatusCreated)
	ts.assertStored(t, "cr/held.bin", data)
}

// gatedPartials holds the second creation of partial data until released: two requests that
// both start an upload of one name then overlap exactly where a creation outside the
// upload's lease would truncate the data the first is writing.
type gatedPartials struct {
	storage.Partials
	mu      sync.Mutex
	creates int
	second  chan struct{} // closed when the second creation starts waiting
	release chan struct{}
}

func (g *gatedPartials) OpenPartial(ref storage.PartialRef, create bool) (storage.Partial, error) {
	if create {
		g.mu.Lock()
		g.creates++
		n := g.creates
		g.mu.Unlock()
		if n == 2 {
			close(g.second)
			<-g.release
		}
	}
	return g.Partials.OpenPartial(ref, create)
}

// Two Content-Range PUTs racing to create one name: whatever the interleaving, the file
// committed holds exactly the bytes one request sent, never a hole of zeros nobody sent.
func TestRangePutRaceCommitsNoHole(t *testing.T) {
	gate := &gatedPartials{second: make(chan struct{}), release: make(chan struct{})}
	ts := startTestServer(t, serverSetup{partials: func(p storage.Partials) storage.Partials { gate.Partials = p; return gate }},
		func(c *config.Config) { c.Resumable.StaleAfter = config.Duration(time.Minute) })
	const total = 100_000
	a, b := pattern(total, 35), pattern(total, 36)
	u := ts.v1URL("cr/race.bin", total)
	cr := fmt.Sprintf("bytes 0-%d/%d", total-1, total)

	rc := ts.dial(t)
	rc.write(rawRequest(http.MethodPut, pathAndQuery(t, u), "Content-Range", cr, "Content-Length", strconv.Itoa(total)))
	rc.write(string(a[:50_000]))
	ts.waitPartialSize(t, ts.putSessionID("cr/race.bin"), 50_000)

	second := make(chan int, 1)
	go func() {
		req := request(t, http.MethodPut, u, bytes.NewReader(b), "Content-Range", cr)
		resp, err := client.Do(req)
		if err != nil {
			second <- 0
			return
		}
		resp.Body.Close()
		second <- resp.StatusCode
	}()
	var bStatus int
	select {
	case <-gate.second: // the second request creates while the first writes
		close(gate.release)
		bStatus = <-second
	case bStatus = <-second: // refused before creating anything
		close(gate.release)
	}
	rc.write(string(a[50_000:]))
	aResp, ab := rc.readResponse(http.MethodPut)
	t.Logf("first PUT %d, second %d", aResp.StatusCode, bStatus)
	stored, sb := get(t, ts.fileURL("cr/race.bin"))
	if aResp.StatusCode == http.StatusCreated || bStatus == http.StatusCreated {
		wantStatus(t, stored, sb, http.StatusOK)
		if !bytes.Equal(sb, a) && !bytes.Equal(sb, b) {
			zeros := bytes.Count(sb, []byte{0})
			t.Fatalf("committed file is neither request's bytes (%d zero bytes; first %d %q, second %d)", zeros, aResp.StatusCode, ab, bStatus)
		}
	}
	if aResp.StatusCode != http.StatusCreated {
		t.Errorf("the first PUT, which was receiving, got %d (%q), want 201", aResp.StatusCode, ab)
	}
}

// After a rotation of the secret (the old one moved to previous_secrets), a PUT interrupted
// before it is still found with its old signed URL: HEAD reports its offset and a
// Content-Range PUT completes it.
func TestInterruptedPutSurvivesSecretRotation(t *testing.T) {
	before := newTestServer(t)
	data := pattern(120_000, 37)
	const name = "rotated/video.mp4"
	u := before.v1URL(name, len(data))
	before.interruptedPut(t, u, data, 50_000)
	after := newTestServer(t, func(c *config.Config) {
		c.Storage.Path = before.dataDir
		c.Auth.Secret, c.Auth.PreviousSecrets = strings.Repeat("n", 40), []string{testSecret}
	})
	u = after.fileURL(name) + u[strings.Index(u, "?"):] // the same signature, at the new server
	h := signedHead(t, u)
	wantHeader(t, h, "Upload-Offset", "50000")
	resp, body := rangePut(t, u, fmt.Sprintf("bytes 50000-%d/%d", len(data)-1, len(data)), data[50_000:])
	wantStatus(t, resp, body, http.StatusCreated)
	after.assertStored(t, name, data)
}

// An IETF upload started by a PUT signed without a size (v3) and Upload-Complete: ?0 has
// the length the client declares, not its first request's Content-Length: the first part
// alone is no file.
func TestIETFPutFirstPartIsNotTheFile(t *testing.T) {
	ts := newTestServer(t)
	data := pattern(1000, 38)
	resp, body := put(t, ts.v3URL(http.MethodPut, "ios/part.bin"), data[:100], "Upload-Draft-Interop-Version", "8", "Upload-Complete", "?0")
	wantStatus(t, resp, body, http.StatusCreated)
	wantHeader(t, resp, "Upload-Complete", "?0")
	ts.assertNotStored(t, "ios/part.bin")
	u := resp.Header.Get("Location")
	p, pb := ietfPatch(t, u, 100, data[100:], "?1")
	if p.StatusCode/100 != 2 {
		t.Fatalf("completing PATCH: %d %q", p.StatusCode, pb)
	}
	ts.assertStored(t, "ios/part.bin", data)
}

// crashAfterCommit publishes a commit, then fails as a process killed right after it would
// look to the next request: the file is there, the upload's completion is not recorded.
type crashAfterCommit struct{ storage.Partials }

type crashingPartial struct{ storage.Partial }

func (c crashAfterCommit) OpenPartial(ref storage.PartialRef, create bool) (storage.Partial, error) {
	p, err := c.Partials.OpenPartial(ref, create)
	if err != nil {
		return nil, err
	}
	return crashingPartial{p}, nil
}

func (c crashingPartial) Commit(ctx context.Context, name string, length int64, meta storage.Meta) (storage.Meta, error) {
	if _, err := c.Partial.Commit(ctx, name, length, meta); err != nil {
		return storage.Meta{}, err
	}
	return storage.Meta{}, errors.New("killed after the commit")
}

// A Content-Range upload whose commit was cut short: the client's retry of its last piece is
// answered 201 (not 409 for a name its own file took), and "bytes */total" reports the whole
// length.
func TestRangePutRetryAfterCommitCutShort(t *testing.T) {
	ts := startTestServer(t, serverSetup{partials: func(p storage.Partials) storage.Partials { return crashAfterCommit{p} }})
	data := pattern(100_000, 39)
	const name = "cr/cut.bin"
	u := ts.v1URL(name, len(data))
	resp, body := rangePut(t, u, "bytes 0-59999/100000", data[:60_000])
	wantStatus(t, resp, body, http.StatusNoContent)
	resp, body = rangePut(t, u, "bytes 60000-99999/100000", data[60_000:])
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("last piece, its commit cut short: %d %q", resp.StatusCode, body)
	}
	resp, body = rangePut(t, u, "bytes 60000-99999/100000", data[60_000:])
	wantStatus(t, resp, body, http.StatusCreated)
	ts.assertStored(t, name, data)
	if h := signedHead(t, u); h.StatusCode != http.StatusOK || h.ContentLength != int64(len(data)) {
		t.Fatalf("HEAD after the recovery: %d, Content-Length %d", h.StatusCode, h.ContentLength)
	}

	// The same, with the client asking where to continue first.
	u = ts.v1URL("cr/asks.bin", len(data))
	rangePut(t, u, "bytes 0-59999/100000", data[:60_000])
	rangePut(t, u, "bytes 60000-99999/100000", data[60_000:])
	resp, body = rangePut(t, u, "bytes */100000", nil)
	wantStatus(t, resp, body, http.StatusNoContent)
	wantHeader(t, resp, "Upload-Offset", "100000")
	ts.assertStored(t, "cr/asks.bin", data)
}
