package handlers_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"fileserver/internal/config"
)

// storage.min_free holds on every upload path: checked against what an upload will become
// (its length, a concatenation's total), counting what uploads in progress were promised,
// and again while bytes arrive, so no body of unknown length crosses it either. A request
// refused for it gets 507 and keeps nothing.

// floorServer is a server on a 24 MiB tmpfs that must keep 16 MiB free: about 8 MiB of room.
// Mounting needs root (as the test command runs in CI).
func floorServer(t *testing.T) *testServer {
	t.Helper()
	dir := mountTmpfs(t, "24m")
	return newTestServer(t, func(c *config.Config) {
		c.Storage.Path = filepath.Join(dir, "data")
		c.Storage.MinFree = 16 << 20
		c.Storage.Preallocate = true
	})
}

const mib = 1 << 20

func wantNoSpace(t *testing.T, what string, resp *http.Response, body []byte) {
	t.Helper()
	if resp.StatusCode != http.StatusInsufficientStorage {
		t.Fatalf("%s past storage.min_free: %d %q, want 507", what, resp.StatusCode, body)
	}
}

// dirEntries is how many entries the data directory's sub has.
func (ts *testServer) dirEntries(t *testing.T, sub string) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(ts.dataDir, sub))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return len(ents)
}

func TestMinFreeHoldsOnEveryPath(t *testing.T) {
	big := pattern(10*mib, 7)
	t.Run("chunked PUT", func(t *testing.T) {
		ts := floorServer(t)
		resp, body := do(t, request(t, http.MethodPut, ts.v3URL(http.MethodPut, "big.bin"), onlyReader{bytes.NewReader(big)}))
		wantNoSpace(t, "chunked PUT", resp, body)
		ts.assertNotStored(t, "big.bin")
		ts.waitNoTmp(t)
	})
	t.Run("multipart POST", func(t *testing.T) {
		ts := floorServer(t)
		form, ct := multipartBody(t, "big.bin", big)
		resp, body := do(t, request(t, http.MethodPost, ts.v3URL(http.MethodPost, "big.bin"), onlyReader{form}, "Content-Type", ct))
		wantNoSpace(t, "multipart POST", resp, body)
		ts.assertNotStored(t, "big.bin")
		ts.waitNoTmp(t)
	})
	t.Run("tus creation", func(t *testing.T) {
		ts := floorServer(t)
		resp, body := ts.tusPost(t, nil, "Upload-Length", strconv.Itoa(len(big)))
		wantNoSpace(t, "tus creation", resp, body)
	})
	t.Run("Content-Range PUT", func(t *testing.T) {
		ts := floorServer(t)
		resp, body := rangePut(t, ts.v1URL("cr.bin", len(big)), fmt.Sprintf("bytes 0-99/%d", len(big)), big[:100])
		wantNoSpace(t, "Content-Range PUT", resp, body)
	})
	t.Run("tus deferred length", func(t *testing.T) {
		ts := floorServer(t)
		u := ts.tusNew(t, -1)
		resp, body := do(t, request(t, http.MethodPatch, u, onlyReader{bytes.NewReader(big)}, "Tus-Resumable", tusVer,
			"Content-Type", "application/offset+octet-stream", "Upload-Offset", "0"))
		wantNoSpace(t, "deferred-length PATCH", resp, body)
		if off := tusHead(t, u).Header.Get("Upload-Offset"); off != "0" {
			t.Fatalf("a PATCH refused with 507 kept %s bytes", off)
		}
	})
	t.Run("IETF appends", func(t *testing.T) {
		ts := floorServer(t)
		resp, body := ts.ietfPost(t, pattern(mib, 8), "?0")
		wantStatus(t, resp, body, http.StatusCreated)
		u := resp.Header.Get("Location")
		p, pb := ietfPatch(t, u, mib, big, "?0")
		wantNoSpace(t, "IETF append", p, pb)
		if off := ietfHead(t, u).Header.Get("Upload-Offset"); off != strconv.Itoa(mib) {
			t.Fatalf("an append refused with 507 moved the offset to %s", off)
		}
	})
}

// Uploads in progress count with what they were promised: two 5 MiB uploads that each fit
// alone cannot both be written into 8 MiB of room, even when the first has sent little yet.
func TestMinFreeCountsUploadsInProgress(t *testing.T) {
	ts := floorServer(t)
	a, b := pattern(5*mib, 9), pattern(5*mib, 10)
	ua, ub := ts.tusNew(t, len(a)), ts.tusNew(t, len(b))
	rc := ts.dial(t)
	rc.write(rawRequest(http.MethodPatch, pathAndQuery(t, ua), "Tus-Resumable", tusVer,
		"Content-Type", "application/offset+octet-stream", "Upload-Offset", "0", "Content-Length", strconv.Itoa(len(a))))
	rc.write(string(a[:mib]))
	ts.waitPartialSize(t, uploadID(ua), int64(len(a))) // preallocated to its length at once
	p, pb := tusPatch(t, ub, 0, b)
	wantNoSpace(t, "second PATCH", p, pb)
	if off := tusHead(t, ub).Header.Get("Upload-Offset"); off != "0" {
		t.Fatalf("the refused PATCH kept %s bytes", off)
	}
	rc.write(string(a[mib:]))
	resp, body := rc.readResponse(http.MethodPatch)
	wantStatus(t, resp, body, http.StatusNoContent)
	wantGetSHA256(t, ua, a)
}

// Body-less concatenation finals copy their total: eight at once of one 3 MiB partial do not
// cross the floor, and every final that fails leaves nothing behind.
func TestMinFreeConcatenation(t *testing.T) {
	ts := floorServer(t)
	part := pattern(3*mib, 11)
	u := ts.tusNew(t, len(part), "Upload-Concat", "partial")
	p, pb := tusPatch(t, u, 0, part)
	wantStatus(t, p, pb, http.StatusNoContent)
	rel := strings.TrimPrefix(u, ts.URL)
	ok := racing(t, 8, http.StatusCreated, http.StatusInsufficientStorage, func(int) *http.Response {
		resp, _ := ts.tusPost(t, nil, "Upload-Concat", "final;"+rel)
		return resp
	})
	if ok != 1 {
		t.Fatalf("%d of 8 finals of a 3 MiB part succeeded in about 5 MiB of room, want 1", ok)
	}
	// Left: the partial upload's data, and the state of it and of the one final.
	if n := ts.dirEntries(t, "partial"); n != 1 {
		t.Errorf("%d partial files left, want only the part's", n)
	}
	if n := ts.dirEntries(t, "sessions"); n != 2 {
		t.Errorf("%d sessions left, want the part and the one final", n)
	}
}
