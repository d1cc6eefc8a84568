package handlers_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fileserver/internal/config"
)

// v1 and v2 MACs bind Content-Length, so a chunked PUT cannot be checked: 411, nothing kept.
func TestPutChunkedV1V2LengthRequired(t *testing.T) {
	ts := newTestServer(t)
	body := pattern(5000, 2)
	tests := []struct{ name, url string }{
		{"v1", ts.v1URL("c1.bin", len(body))},
		{"v2", ts.v2URL("c2.bin", len(body), "application/octet-stream")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := request(t, http.MethodPut, tt.url, onlyReader{bytes.NewReader(body)})
			if req.ContentLength != 0 {
				t.Fatalf("test setup: request has Content-Length %d, want chunked", req.ContentLength)
			}
			resp, rb := do(t, req)
			wantStatus(t, resp, rb, http.StatusLengthRequired)
		})
	}
	ts.assertNotStored(t, "c1.bin")
	ts.assertNotStored(t, "c2.bin")
	ts.waitNoTmp(t)
}

// A body that ends before Content-Length leaves nothing: no file, no temporary file.
func TestPutShortBodyStoresNothing(t *testing.T) {
	ts := newTestServer(t)
	rc := ts.dial(t)
	rc.write(rawRequest(http.MethodPut, pathAndQuery(t, ts.v1URL("short.bin", 100)), "Content-Length", "100"))
	rc.write(string(pattern(50, 3)))
	if err := rc.c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, body := rc.readResponse(http.MethodPut)
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Fatalf("short body: status %d (%q), want 4xx", resp.StatusCode, body)
	}
	ts.assertNotStored(t, "short.bin")
	ts.waitNoTmp(t)
}

// Bytes after Content-Length are not part of the upload.
func TestPutLongerBodyStoresContentLength(t *testing.T) {
	ts := newTestServer(t)
	body := pattern(100, 4)
	rc := ts.dial(t)
	rc.write(rawRequest(http.MethodPut, pathAndQuery(t, ts.v1URL("long.bin", 60)), "Content-Length", "60"))
	rc.write(string(body))
	resp, rb := rc.readResponse(http.MethodPut)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d (%q), want 201", resp.StatusCode, rb)
	}
	ts.assertStored(t, "long.bin", body[:60])
}

// A completed file is never replaced (docs/clients.md, "One upload per slot").
func TestPutExistingIsConflict(t *testing.T) {
	ts := newTestServer(t)
	first, second := []byte("first version"), []byte("second attempt")
	resp, rb := put(t, ts.v1URL("same.txt", len(first)), first)
	wantStatus(t, resp, rb, http.StatusCreated)
	resp, rb = put(t, ts.v1URL("same.txt", len(second)), second)
	wantStatus(t, resp, rb, http.StatusConflict)
	ts.assertStored(t, "same.txt", first)
}

// Racing uploads to one name: exactly one wins, the others get 409 (or are cut off by a newer
// one), and the stored bytes are exactly the winner's.
func TestPutConcurrentSameName(t *testing.T) {
	ts := newTestServer(t)
	const n = 8
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = pattern(256<<10+i, byte(i*31+1))
	}
	start := make(chan struct{})
	statuses := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequest(http.MethodPut, ts.v1URL("race.bin", len(bodies[i])), bytes.NewReader(bodies[i]))
			if err != nil {
				errs[i] = err
				return
			}
			<-start
			resp, err := client.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, st := range statuses {
		if errs[i] != nil {
			// A newer PUT for the same name takes the upload over and cuts the older one off,
			// which its client may see as a reset connection instead of a 409.
			continue
		}
		switch st {
		case http.StatusCreated:
			if winner >= 0 {
				t.Fatalf("uploads %d and %d both got 201", winner, i)
			}
			winner = i
		case http.StatusConflict:
		default:
			t.Fatalf("upload %d: status %d, want 201 or 409", i, st)
		}
	}
	if winner < 0 {
		t.Fatalf("no upload won: %v", statuses)
	}
	ts.assertStored(t, "race.bin", bodies[winner])
	ts.waitNoTmp(t)
}

// Whatever refuses an upload is decided from its headers: the final status comes instead of
// "100 Continue", no body byte is asked for, and the connection is not reused (docs/clients.md,
// "Size", "Expect: 100-continue", "Framing").
func TestPutRefusedBeforeBody(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) {
		c.Upload.MaxSize = 1 * config.KiB
		c.Upload.DeniedExtensions = []string{".exe"}
	})
	ts.upload(t, "taken.bin", []byte("x"))
	const size = 512
	tests := []struct {
		name, file, url string
		size            int
		hdr             []string
		want            int
	}{
		{"over max_size", "big.bin", ts.v1URL("big.bin", 4096), 4096, nil, http.StatusRequestEntityTooLarge},
		{"bad signature", "bad.bin", ts.v1URL("bad.bin", size+1), size, nil, http.StatusForbidden},
		{"no credential", "none.bin", ts.fileURL("none.bin"), size, nil, http.StatusForbidden},
		{"existing file", "taken.bin", ts.v1URL("taken.bin", size), size, nil, http.StatusConflict},
		{"denied extension", "x.exe", ts.v1URL("x.exe", size), size, nil, http.StatusUnsupportedMediaType},
		{"token filesize mismatch", "s/t.bin", ts.fileURL("s/t.bin"), size,
			[]string{"Authorization", bearer(tokenClaims("s", "t.bin", size+1))}, http.StatusRequestEntityTooLarge},
	}
	// Without Expect the client may stall before sending its body: the refusal must still come
	// at once, not after net/http tried to drain a body that never arrives.
	for _, expect := range []bool{true, false} {
		for _, tt := range tests {
			t.Run(tt.name+map[bool]string{true: " expect", false: " no expect"}[expect], func(t *testing.T) {
				rc := ts.dial(t)
				hdr := append([]string{"Content-Length", strconv.Itoa(tt.size)}, tt.hdr...)
				if expect {
					hdr = append(hdr, "Expect", "100-continue")
				}
				rc.write(rawRequest(http.MethodPut, pathAndQuery(t, tt.url), hdr...))
				// The first response on the wire must be the refusal: a 100 Continue would be read here.
				resp, body := rc.readResponse(http.MethodPut)
				if resp.StatusCode != tt.want {
					t.Fatalf("first response %d %q, want %d and no 100 Continue", resp.StatusCode, body, tt.want)
				}
				if !resp.Close {
					t.Errorf("refusal before the body without Connection: close")
				}
				if tt.file != "taken.bin" {
					ts.assertNotStored(t, tt.file)
				}
			})
		}
	}
	ts.assertStored(t, "taken.bin", []byte("x"))
}

// Nothing is served while an upload is still streaming in; the complete file is.
func TestPutInProgressIsNotServed(t *testing.T) {
	ts := newTestServer(t)
	body := pattern(2000, 10)
	rc := ts.dial(t)
	rc.write(rawRequest(http.MethodPut, pathAndQuery(t, ts.v1URL("wip.bin", len(body))), "Content-Length", strconv.Itoa(len(body))))
	rc.write(string(body[:1000]))
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		resp, rb := do(t, request(t, method, ts.fileURL("wip.bin"), nil))
		wantStatus(t, resp, rb, http.StatusNotFound)
	}
	rc.write(string(body[1000:]))
	resp, rb := rc.readResponse(http.MethodPut)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d (%q), want 201", resp.StatusCode, rb)
	}
	ts.assertStored(t, "wip.bin", body)
}

// A name cannot be both a file and a directory: the later upload gets 409.
func TestPutFileDirectoryCollision(t *testing.T) {
	ts := newTestServer(t)
	ts.upload(t, "a.txt", []byte("file"))
	ts.upload(t, "d/inner.txt", []byte("inner"))
	for _, name := range []string{"a.txt/b.txt", "d"} {
		resp, rb := put(t, ts.v1URL(name, 3), []byte("abc"))
		wantStatus(t, resp, rb, http.StatusConflict)
	}
	resp, rb := get(t, ts.fileURL("d"))
	wantStatus(t, resp, rb, http.StatusNotFound)
	ts.assertStored(t, "a.txt", []byte("file"))
	ts.assertStored(t, "d/inner.txt", []byte("inner"))
}

// A chunked upload has no announced size: the limit is enforced on the streamed body.
func TestPutChunkedOverMaxSize(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) { c.Upload.MaxSize = 1 * config.KiB })
	body := pattern(4096, 5)
	req := request(t, http.MethodPut, ts.v3URL(http.MethodPut, "big.bin"), onlyReader{bytes.NewReader(body)})
	resp, rb := do(t, req)
	wantStatus(t, resp, rb, http.StatusRequestEntityTooLarge)
	ts.assertNotStored(t, "big.bin")
	ts.waitNoTmp(t)

	// At the limit exactly it is accepted.
	ok := pattern(1024, 6)
	resp, rb = do(t, request(t, http.MethodPut, ts.v3URL(http.MethodPut, "exact.bin"), onlyReader{bytes.NewReader(ok)}))
	wantStatus(t, resp, rb, http.StatusCreated)
	ts.assertStored(t, "exact.bin", ok)
}

// With a valid signature, Expect: 100-continue gets 100, then the body, then 201.
func TestPutExpectContinue(t *testing.T) {
	ts := newTestServer(t)
	body := pattern(2048, 7)
	rc := ts.dial(t)
	rc.write(rawRequest(http.MethodPut, pathAndQuery(t, ts.v1URL("cont.bin", len(body))),
		"Content-Length", strconv.Itoa(len(body)), "Expect", "100-continue"))
	interim, _ := rc.readResponse(http.MethodPut)
	if interim.StatusCode != http.StatusContinue {
		t.Fatalf("first response %d, want 100 Continue", interim.StatusCode)
	}
	rc.write(string(body))
	final, fb := rc.readResponse(http.MethodPut)
	if final.StatusCode != http.StatusCreated {
		t.Fatalf("final response %d (%q), want 201", final.StatusCode, fb)
	}
	ts.assertStored(t, "cont.bin", body)
}

// A client that stalls mid-body is cut off by read_idle_timeout, and nothing is kept.
func TestPutStalledClientIsCutOff(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) { c.Upload.ReadIdleTimeout = config.Duration(300 * time.Millisecond) })
	rc := ts.dial(t)
	rc.write(rawRequest(http.MethodPut, pathAndQuery(t, ts.v1URL("stall.bin", 1000)), "Content-Length", "1000"))
	rc.write(string(pattern(500, 8)))
	// Stall. The server must end the connection by itself; the dial deadline (10 s) bounds
	// the wait, and hitting it fails the test.
	_, err := io.Copy(io.Discard, rc.br)
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open after 10 s of stalling: %v", err)
	}
	ts.assertNotStored(t, "stall.bin")
	ts.waitNoTmp(t)
}

// A token binds filesize; a chunked body is measured as it streams and must match it.
func TestPutTokenChunkedMustMatchFilesize(t *testing.T) {
	ts := newTestServer(t)
	body := pattern(300, 9)
	tests := []struct {
		name     string
		filesize int
		want     int
	}{
		{"exact", len(body), http.StatusCreated},
		{"longer than filesize", len(body) - 10, http.StatusRequestEntityTooLarge},
		{"shorter than filesize", len(body) + 10, http.StatusBadRequest},
		{"filesize zero", 0, http.StatusRequestEntityTooLarge},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			slot := "slot" + strconv.Itoa(i)
			req := request(t, http.MethodPut, ts.fileURL(slot+"/f.bin"), onlyReader{bytes.NewReader(body)},
				"Authorization", bearer(tokenClaims(slot, "f.bin", tt.filesize)))
			resp, rb := do(t, req)
			wantStatus(t, resp, rb, tt.want)
			if tt.want == http.StatusCreated {
				ts.assertStored(t, slot+"/f.bin", body)
			} else {
				ts.assertNotStored(t, slot+"/f.bin")
			}
		})
	}
	ts.waitNoTmp(t)
}

// An upload over upload.max_size is told the limit, whether it announced its size or not.
func TestTooLargeSaysTheLimit(t *testing.T) {
	ts := newTestServer(t, func(c *config.Config) { c.Upload.MaxSize = 1000 })
	resp, body := put(t, ts.v1URL("big.bin", 2000), pattern(2000, 1))
	wantStatus(t, resp, body, http.StatusRequestEntityTooLarge)
	if !strings.Contains(string(body), "1000") {
		t.Errorf("announced: %q does not state the limit", body)
	}
	resp, body = do(t, request(t, http.MethodPut, ts.v3URL(http.MethodPut, "big2.bin"), onlyReader{bytes.NewReader(pattern(2000, 2))}))
	wantStatus(t, resp, body, http.StatusRequestEntityTooLarge)
	if !strings.Contains(string(body), "1000") {
		t.Errorf("chunked: %q does not state the limit", body)
	}
}
