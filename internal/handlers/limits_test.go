package handlers_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"fileserver/internal/config"
)

func getWith(t *testing.T, u string, hdr ...string) int {
	t.Helper()
	resp, _ := get(t, u, hdr...)
	return resp.StatusCode
}

// rateLimited sends a GET as each forwarded client in turn to a server with a per-client rate
// of 1 (bursts of 2) behind a trusted proxy (mod may change that), and returns the statuses.
func rateLimited(t *testing.T, mod func(*config.Config), clients ...string) []int {
	t.Helper()
	ts := newTestServer(t, func(c *config.Config) {
		c.Limits.PerClientRate = 1
		c.Server.TrustedProxies = []string{"127.0.0.0/8"}
		mod(c)
	})
	codes := make([]int, len(clients))
	for i, client := range clients {
		codes[i] = getWith(t, ts.fileURL("nothing"), "X-Forwarded-For", client)
	}
	return codes
}

// A client's address comes from X-Forwarded-For only when the peer is a trusted proxy, so
// spoofing the header does not escape the per-client rate.
func TestPerClientRateAndTrustedProxies(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		codes := rateLimited(t, func(c *config.Config) {
			if !trusted {
				c.Server.TrustedProxies = nil
			}
		}, "203.0.113.7", "203.0.113.7", "203.0.113.7", "198.51.100.9")
		if codes[2] != http.StatusTooManyRequests {
			t.Fatalf("trusted=%v: third request from one client got %d, want 429", trusted, codes[2])
		}
		want := http.StatusTooManyRequests // untrusted: the header is ignored, all one client
		if trusted {
			want = http.StatusNotFound // trusted: another client, its own bucket
		}
		if codes[3] != want {
			t.Fatalf("trusted=%v: request for another forwarded client got %d, want %d", trusted, codes[3], want)
		}
	}
	ts := newTestServer(t, func(c *config.Config) { c.Limits.PerClientRate = 1 })
	getWith(t, ts.fileURL("a"))
	getWith(t, ts.fileURL("a"))
	resp, _ := get(t, ts.fileURL("a"))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("rate limited response %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// The addresses of one IPv6 /64 are one client for the per-client limits: changing address
// within it does not escape the rate. Another /64 is another client; with
// limits.ipv6_prefix = 128 every address is.
func TestPerClientRateCountsAnIPv6Subnet(t *testing.T) {
	for _, prefix := range []int{64, 128} {
		codes := rateLimited(t, func(c *config.Config) { c.Limits.IPv6Prefix = prefix },
			"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:abcd::3", "2001:db8:1:3::1")
		third := http.StatusTooManyRequests
		if prefix == 128 {
			third = http.StatusNotFound
		}
		if codes[2] != third || codes[3] != http.StatusNotFound {
			t.Fatalf("ipv6_prefix %d: codes %v; want the third request of one /64 %d, another /64's 404", prefix, codes, third)
		}
	}
}

// holdUpload starts an upload on a raw connection that sends half its body and waits.
func holdUpload(t *testing.T, ts *testServer, name string, body []byte) *rawConn {
	t.Helper()
	rc := ts.dial(t)
	rc.write(rawRequest(http.MethodPut, pathAndQuery(t, ts.v1URL(name, len(body))),
		"Content-Length", strconv.Itoa(len(body))) + string(body[:len(body)/2]))
	ts.waitUploading(t, name)
	return rc
}

// waitUploading waits until an upload of name has reached the server.
func (ts *testServer) waitUploading(t *testing.T, name string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if ents, _ := os.ReadDir(filepath.Join(ts.dataDir, "partial")); len(ents) > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("upload of %s never started", name)
}

func TestConcurrentUploadLimits(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*config.Config)
		want int
	}{
		{"per client", func(c *config.Config) { c.Limits.PerClientUploads = 1 }, http.StatusTooManyRequests},
		{"server-wide", func(c *config.Config) { c.Limits.MaxConcurrentUploads = 1 }, http.StatusServiceUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, tc.mod)
			body := pattern(4000, 3)
			holder := holdUpload(t, ts, "first.bin", body)
			resp, rb := put(t, ts.v1URL("second.bin", 3), []byte("abc"))
			if resp.StatusCode != tc.want || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("second upload: %d %q (Retry-After %q), want %d", resp.StatusCode, rb, resp.Header.Get("Retry-After"), tc.want)
			}
			// Downloads are not uploads: they pass.
			if code := getWith(t, ts.fileURL("nothing")); code != http.StatusNotFound {
				t.Fatalf("download during a held upload: %d", code)
			}
			holder.write(string(body[len(body)/2:]))
			if r, _ := holder.readResponse(http.MethodPut); r.StatusCode != http.StatusCreated {
				t.Fatalf("held upload ended with %d", r.StatusCode)
			}
			ts.assertStored(t, "first.bin", body)
			if resp, _ := put(t, ts.v1URL("second.bin", 3), []byte("abc")); resp.StatusCode != http.StatusCreated {
				t.Fatalf("after the slot freed: %d", resp.StatusCode)
			}
		})
	}
}

// A trickling client is cut off after the grace; a tus upload keeps what arrived.
func TestMinUploadRate(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) {
		c.Limits.MinUploadRate = 100 * config.KiB
		c.Limits.MinRateGrace = config.Duration(200 * time.Millisecond)
	})
	loc := ts.tusCreateForLimits(t, 100_000)
	rc := ts.dial(t)
	rc.write(rawRequest(http.MethodPatch, pathAndQuery(t, loc), "Tus-Resumable", "1.0.0",
		"Content-Type", "application/offset+octet-stream", "Upload-Offset", "0", "Content-Length", "100000"))
	sent := 0
	for i := 0; i < 40; i++ { // about 100 bytes every 25 ms: far below 100 KiB/s
		if _, err := rc.c.Write(pattern(100, byte(i))); err != nil {
			break
		}
		sent += 100
		time.Sleep(25 * time.Millisecond)
	}
	rc.c.CloseWrite()
	resp, _ := rc.readResponse(http.MethodPatch)
	if resp.StatusCode >= 500 {
		t.Fatalf("slow PATCH ended with %d", resp.StatusCode)
	}
	head, _ := do(t, request(t, http.MethodHead, loc, nil, "Tus-Resumable", "1.0.0"))
	off, _ := strconv.Atoi(head.Header.Get("Upload-Offset"))
	if off == 0 || off > sent {
		t.Fatalf("offset after the cut %d, sent %d: the bytes that arrived must be kept", off, sent)
	}
}

func (ts *testServer) tusCreateForLimits(t *testing.T, length int) string {
	t.Helper()
	u := ts.URL + "/files/?" + v3Query(http.MethodPost, "/files/")
	resp, body := do(t, request(t, http.MethodPost, u, nil, "Tus-Resumable", "1.0.0", "Upload-Length", strconv.Itoa(length)))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("tus create: %d %q", resp.StatusCode, body)
	}
	return resp.Header.Get("Location")
}

// Below storage.min_free an upload is refused before its body is read.
func TestMinFreeRefusesUploads(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) { c.Storage.MinFree = 1 << 60 })
	resp, rb := put(t, ts.v1URL("big.bin", 10), []byte("0123456789"))
	if resp.StatusCode != http.StatusInsufficientStorage {
		t.Fatalf("upload below the floor: %d %q", resp.StatusCode, rb)
	}
	ts.assertNotStored(t, "big.bin")
}

// A disk that fills mid-upload gives 507 and leaves nothing behind; what was stored before
// is intact. The test mounts a 2 MiB tmpfs, which needs root.
func TestDiskFullMidUpload(t *testing.T) {
	dir := mountTmpfs(t, "2m")
	ts := newTestServer(t, func(c *config.Config) {
		c.Storage.Path = filepath.Join(dir, "data")
		c.Storage.MinFree = 0
	})
	small := pattern(300_000, 1)
	ts.upload(t, "kept.bin", small)
	big := pattern(3<<20, 2)
	resp, rb := put(t, ts.v1URL("big.bin", len(big)), big)
	if resp.StatusCode != http.StatusInsufficientStorage {
		t.Fatalf("upload past a full disk: %d %q", resp.StatusCode, rb)
	}
	ts.assertNotStored(t, "big.bin")
	ts.assertStored(t, "kept.bin", small)
	for _, sub := range []string{"partial", "tmp"} {
		if ents, _ := os.ReadDir(filepath.Join(dir, "data", sub)); len(ents) != 0 {
			t.Errorf("%s/ keeps %d entries after a full disk", sub, len(ents))
		}
	}
	// Space is back: a small upload succeeds again.
	ts.upload(t, "after.bin", pattern(100_000, 3))
}

// The daily quota is kept per uploader: the JID in a token, else the address.
func TestDailyQuota(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) { c.Limits.DailyQuota = 1000 })
	if resp, _ := put(t, ts.v1URL("one.bin", 600), pattern(600, 1)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("first upload: %d", resp.StatusCode)
	}
	resp, rb := put(t, ts.v1URL("two.bin", 600), pattern(600, 2))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("over quota: %d %q Retry-After %q", resp.StatusCode, rb, resp.Header.Get("Retry-After"))
	}
	ts.assertNotStored(t, "two.bin")
	// Another uploader, named by its token, has a quota of its own.
	c := tokenClaims("slot1", "three.bin", 600)
	c.Sub = "juliet@example.org"
	if resp, rb := put(t, ts.fileURL("slot1/three.bin"), pattern(600, 3), "Authorization", bearer(c)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("token uploader: %d %q", resp.StatusCode, rb)
	}
}

// An uploader known by its address only is its IPv6 /64 for the daily quota: a second
// address of the same /64 finds the quota spent, another /64 has its own.
func TestDailyQuotaCountsAnIPv6Subnet(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) {
		c.Limits.DailyQuota = 1000
		c.Server.TrustedProxies = []string{"127.0.0.0/8"}
	})
	for i, tc := range []struct {
		from string
		want int
	}{
		{"2001:db8:1:2::1", http.StatusCreated},
		{"2001:db8:1:2::99", http.StatusTooManyRequests},
		{"2001:db8:1:3::1", http.StatusCreated},
	} {
		name := "v6-" + strconv.Itoa(i) + ".bin"
		resp, rb := put(t, ts.v1URL(name, 600), pattern(600, byte(i)), "X-Forwarded-For", tc.from)
		if resp.StatusCode != tc.want {
			t.Fatalf("upload from %s: %d %q, want %d", tc.from, resp.StatusCode, rb, tc.want)
		}
	}
}
