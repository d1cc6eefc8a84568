package handlers_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"fileserver/internal/config"
)

// With the buffer budget spent and the policy "refuse", a new upload is answered 503 with
// Retry-After before its body is read, and the upload holding the budget is unharmed.
func TestUploadRefusedWhenBudgetSpent(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) {
		c.Streaming.MinBuffer = 64 * config.KiB
		c.Streaming.MaxBuffer = 64 * config.KiB
		c.Streaming.BufferSize = 64 * config.KiB
		c.Streaming.MemoryBudget = 64 * config.KiB
		c.Streaming.OnBudgetExhausted = "refuse"
		// Fixed buffers: an adaptive engine would shrink the stalled holder's buffer and so
		// make room for the second upload.
		c.Streaming.Adaptive = false
	})
	body := pattern(100_000, 7)
	holder := ts.dial(t)
	holder.write(rawRequest(http.MethodPut, pathAndQuery(t, ts.v1URL("held.bin", len(body))),
		"Content-Length", strconv.Itoa(len(body))) + string(body[:1000]))
	// Wait until the holder's transfer is copying (so it has its buffer): a second upload
	// then finds none.
	ts.waitUploading(t, "held.bin")
	var resp *http.Response
	var rb []byte
	deadline := time.Now().Add(5 * time.Second)
	refused := ""
	for i := 0; time.Now().Before(deadline); i++ {
		// Until the holder has its buffer an upload may still get one: each try takes a new
		// name, so an early success does not turn the next try into a 409.
		refused = "second-" + strconv.Itoa(i) + ".bin"
		resp, rb = put(t, ts.v1URL(refused, 10), []byte("0123456789"))
		if resp.StatusCode == http.StatusServiceUnavailable {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second upload: %d %q, want 503", resp.StatusCode, rb)
	}
	if ra := resp.Header.Get("Retry-After"); ra == "" || strings.Trim(ra, "0123456789") != "" {
		t.Fatalf("Retry-After %q", ra)
	}
	ts.assertNotStored(t, refused)
	holder.write(string(body[1000:]))
	if r, _ := holder.readResponse(http.MethodPut); r.StatusCode != http.StatusCreated {
		t.Fatalf("holder finished with %d", r.StatusCode)
	}
	ts.assertStored(t, "held.bin", body)
}
