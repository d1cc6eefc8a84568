package handlers_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"fileserver/internal/config"
)

// limits.daily_quota holds on every upload path: an upload holds its length of the quota
// from the moment it starts (or, while its length is unknown, what it received), so uploads
// in progress cannot together pass the quota, whatever the protocol.

const testQuota = 10_000

func quotaServer(t *testing.T) *testServer {
	t.Helper()
	return newTestServer(t, func(c *config.Config) { c.Limits.DailyQuota = testQuota })
}

// wantQuotaRefusal checks a 429 that says when to come back.
func wantQuotaRefusal(t *testing.T, what string, resp *http.Response, body []byte) {
	t.Helper()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("%s past the quota: %d %q, Retry-After %q; want 429 with Retry-After", what, resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
}

// storedBytes is what the data directory holds in committed files and partial uploads.
func (ts *testServer) storedBytes(t *testing.T) int64 {
	t.Helper()
	var n int64
	for _, dir := range []string{"files", "partial"} {
		filepath.Walk(filepath.Join(ts.dataDir, dir), func(_ string, info os.FileInfo, err error) error {
			if err == nil && info.Mode().IsRegular() {
				n += info.Size()
			}
			return nil
		})
	}
	return n
}

// Resumable uploads hold their declared length from creation: three 6000-byte uploads cannot
// all start under a 10000-byte quota, on any protocol, and a terminated one gives its room
// back.
func TestQuotaHeldFromCreation(t *testing.T) {
	creators := map[string]func(ts *testServer, n int) (*http.Response, []byte){
		"tus": func(ts *testServer, n int) (*http.Response, []byte) {
			return ts.tusPost(t, nil, "Upload-Length", strconv.Itoa(n))
		},
		"IETF": func(ts *testServer, n int) (*http.Response, []byte) {
			return ts.ietfPost(t, nil, "?0", "Upload-Length", strconv.Itoa(n))
		},
		"Content-Range PUT": func(ts *testServer, n int) (*http.Response, []byte) {
			name := fmt.Sprintf("cr/%d.bin", ts.storedBytes(t))
			return rangePut(t, ts.v1URL(name, n), fmt.Sprintf("bytes 0-99/%d", n), pattern(100, 1))
		},
		"tus partial": func(ts *testServer, n int) (*http.Response, []byte) {
			return ts.tusPost(t, nil, "Upload-Length", strconv.Itoa(n), "Upload-Concat", "partial")
		},
	}
	for name, create := range creators {
		t.Run(name, func(t *testing.T) {
			ts := quotaServer(t)
			first, fb := create(ts, 6000)
			if first.StatusCode/100 != 2 {
				t.Fatalf("first upload: %d %q", first.StatusCode, fb)
			}
			resp, body := create(ts, 6000)
			wantQuotaRefusal(t, "second upload", resp, body)
			if resp, body := create(ts, 4000); resp.StatusCode/100 != 2 {
				t.Fatalf("an upload that fits beside the first: %d %q", resp.StatusCode, body)
			}
		})
	}
	t.Run("termination gives the room back", func(t *testing.T) {
		ts := quotaServer(t)
		u := ts.tusNew(t, 9000)
		resp, body := ts.tusPost(t, nil, "Upload-Length", "9000")
		wantQuotaRefusal(t, "second upload", resp, body)
		del, db := do(t, request(t, http.MethodDelete, u, nil, "Tus-Resumable", tusVer))
		wantStatus(t, del, db, http.StatusNoContent)
		ts.tusNew(t, 9000)
	})
}

// A completed upload is charged to the day and its hold goes: what is left is the quota less
// what was committed.
func TestQuotaChargedOnCompletion(t *testing.T) {
	ts := quotaServer(t)
	data := pattern(6000, 2)
	u := ts.tusNew(t, len(data))
	p, pb := tusPatch(t, u, 0, data)
	wantStatus(t, p, pb, http.StatusNoContent)
	resp, body := ts.tusPost(t, nil, "Upload-Length", "4001")
	wantQuotaRefusal(t, "upload past what is left", resp, body)
	ts.tusNew(t, 4000)
}

// An upload of unknown length (tus deferred length, a chunked PUT, a POST form) may receive
// only what the quota leaves.
func TestQuotaUnknownLength(t *testing.T) {
	t.Run("tus deferred length", func(t *testing.T) {
		ts := quotaServer(t)
		a := ts.tusNew(t, -1)
		p, pb := tusPatch(t, a, 0, pattern(8000, 3))
		wantStatus(t, p, pb, http.StatusNoContent)
		b := ts.tusNew(t, -1)
		p, pb = tusPatch(t, b, 0, pattern(5000, 4))
		wantQuotaRefusal(t, "deferred-length PATCH", p, pb)
		off := mustAtoi(t, tusHead(t, b).Header.Get("Upload-Offset"))
		if off > 2000 {
			t.Fatalf("second upload kept %d bytes; 2000 were left", off)
		}
		// Declaring a length the quota cannot hold is refused as well.
		p, pb = tusPatch(t, b, off, nil, "Upload-Length", "9000")
		wantQuotaRefusal(t, "declaring a length past the quota", p, pb)
		if n := ts.storedBytes(t); n > testQuota {
			t.Fatalf("%d bytes stored under a quota of %d", n, testQuota)
		}
	})
	t.Run("chunked PUT", func(t *testing.T) {
		ts := quotaServer(t)
		req := request(t, http.MethodPut, ts.v3URL(http.MethodPut, "big.bin"), onlyReader{bytes.NewReader(pattern(12_000, 5))})
		resp, body := do(t, req)
		wantQuotaRefusal(t, "chunked PUT", resp, body)
		ts.assertNotStored(t, "big.bin")
	})
	t.Run("multipart POST", func(t *testing.T) {
		ts := quotaServer(t)
		form, ct := multipartBody(t, "big.bin", pattern(12_000, 6))
		resp, body := do(t, request(t, http.MethodPost, ts.v3URL(http.MethodPost, "big.bin"), form, "Content-Type", ct))
		wantQuotaRefusal(t, "multipart POST", resp, body)
		ts.assertNotStored(t, "big.bin")
	})
}

// Uploads racing each other cannot together pass the quota: of eight 3000-byte uploads sent
// at once under 10000, at most three are stored, on each path.
func TestQuotaRace(t *testing.T) {
	for _, path := range []string{"POST", "PUT", "tus"} {
		t.Run(path, func(t *testing.T) {
			ts := quotaServer(t)
			ok := racing(t, 8, http.StatusCreated, http.StatusTooManyRequests, func(i int) *http.Response {
				data := pattern(3000, byte(i))
				name := fmt.Sprintf("race-%d.bin", i)
				var resp *http.Response
				switch path {
				case "POST":
					resp, _ = do(t, request(t, http.MethodPost, ts.v3URL(http.MethodPost, name), bytes.NewReader(data)))
				case "PUT":
					resp, _ = put(t, ts.v1URL(name, len(data)), data)
				case "tus":
					resp, _ = ts.tusPost(t, data, "Upload-Length", "3000", "Content-Type", "application/offset+octet-stream")
				}
				return resp
			})
			if ok > 3 || ok == 0 {
				t.Fatalf("%d of 8 uploads of 3000 bytes stored under a quota of %d", ok, testQuota)
			}
			if n := ts.storedBytes(t); n > testQuota {
				t.Fatalf("%d bytes stored under a quota of %d", n, testQuota)
			}
		})
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return n
}

// The pieces of one upload may come from several addresses (a phone that changed networks):
// the upload holds, and is charged to, the uploader that started it, whoever sends its last
// byte, so moving the last byte elsewhere does not take the upload off the books.
func TestQuotaChargesTheUploadsUploader(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) {
		c.Limits.DailyQuota = testQuota
		c.Server.TrustedProxies = []string{"127.0.0.1"}
	})
	from := func(addr string) []string { return []string{"X-Forwarded-For", addr} }
	data := pattern(9000, 12)
	u := ts.v1URL("cr/moving.bin", len(data))
	resp, body := rangePut(t, u, "bytes 0-8998/9000", data[:8999], from("192.0.2.1")...)
	wantStatus(t, resp, body, http.StatusNoContent)
	resp, body = rangePut(t, u, "bytes 8999-8999/9000", data[8999:], from("198.51.100.1")...)
	wantStatus(t, resp, body, http.StatusCreated)
	// The first address used 9000 of its 10000; the second none.
	resp, body = put(t, ts.v1URL("a2.bin", 2000), pattern(2000, 13), from("192.0.2.1")...)
	wantQuotaRefusal(t, "the first address's next upload", resp, body)
	resp, body = put(t, ts.v1URL("b2.bin", 9000), pattern(9000, 14), from("198.51.100.1")...)
	wantStatus(t, resp, body, http.StatusCreated)
}

// A chunked PUT refused for the quota keeps nothing, and holds nothing afterwards.
func TestQuotaRefusedPutKeepsNothing(t *testing.T) {
	ts := quotaServer(t)
	rc := ts.dial(t)
	rc.write(rawRequest(http.MethodPut, pathAndQuery(t, ts.v3URL(http.MethodPut, "trickle.bin")), "Transfer-Encoding", "chunked"))
	chunk := pattern(2000, 15)
	var resp *http.Response
	var body []byte
	for range 6 { // 12000 bytes in pieces, as a slow client sends them
		rc.write(fmt.Sprintf("%x\r\n%s\r\n", len(chunk), chunk))
		time.Sleep(20 * time.Millisecond)
	}
	rc.write("0\r\n\r\n")
	resp, body = rc.readResponse(http.MethodPut)
	wantQuotaRefusal(t, "trickled chunked PUT", resp, body)
	if n := ts.storedBytes(t); n != 0 {
		t.Fatalf("a PUT refused for the quota left %d bytes", n)
	}
	resp, body = put(t, ts.v1URL("small.bin", 100), pattern(100, 16))
	wantStatus(t, resp, body, http.StatusCreated)
}

// An interrupted upload replaced by another uploader's PUT gives its uploader's room back.
func TestQuotaReplacedUploadGivesRoomBack(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) {
		c.Limits.DailyQuota = testQuota
		c.Server.TrustedProxies = []string{"127.0.0.1"}
	})
	data := pattern(9000, 17)
	u := ts.v1URL("shared.bin", len(data))
	resp, body := rangePut(t, u, "bytes 0-99/9000", data[:100], "X-Forwarded-For", "192.0.2.1")
	wantStatus(t, resp, body, http.StatusNoContent)
	resp, body = put(t, u, data, "X-Forwarded-For", "198.51.100.1")
	wantStatus(t, resp, body, http.StatusCreated)
	resp, body = put(t, ts.v1URL("mine.bin", 5000), pattern(5000, 18), "X-Forwarded-For", "192.0.2.1")
	wantStatus(t, resp, body, http.StatusCreated)
}

// A request streaming in for longer than a hold lasts keeps its hold: another upload cannot
// take its room meanwhile.
func TestQuotaHoldOutlastsItsTerm(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) {
		c.Limits.DailyQuota = testQuota
		c.Resumable.SessionTTL = config.Duration(600 * time.Millisecond) // holds last as long
	})
	data := pattern(9000, 19)
	rc := ts.dial(t)
	rc.write(rawRequest(http.MethodPut, pathAndQuery(t, ts.v1URL("slow.bin", len(data))), "Content-Length", strconv.Itoa(len(data))))
	for i := 0; i < 9; i++ { // 1.8 s, three terms of a hold
		rc.write(string(data[i*900 : (i+1)*900]))
		time.Sleep(200 * time.Millisecond)
	}
	resp, body := put(t, ts.v1URL("other.bin", 9000), pattern(9000, 20))
	wantQuotaRefusal(t, "an upload while a slow one holds the room", resp, body)
	rc.write(string(data[8100:]))
	first, fb := rc.readResponse(http.MethodPut)
	wantStatus(t, first, fb, http.StatusCreated)
}
