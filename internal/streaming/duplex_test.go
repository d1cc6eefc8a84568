package streaming

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The seeds' serverless bug: two copies in opposite directions, each waiting for the other
// to drain a full buffer. Here an echo handler streams a large request body back through
// the engine while the client is still sending it (HTTP/1.1 full duplex), so both directions
// are in flight at once with every buffer on the way full.
func echoServer(e *Engine, stopAfter int64) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.EnableFullDuplex(); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		var src io.Reader = r.Body
		if stopAfter > 0 {
			// The server side dies mid-transfer: the handler gives up after stopAfter bytes
			// and the connection is torn down.
			src = io.LimitReader(r.Body, stopAfter)
			defer panic(http.ErrAbortHandler)
		}
		e.Copy(r.Context(), flushWriter{w, rc}, src, Transfer{Direction: Upload, Client: "echo"})
	}))
}

type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}

// pattern is a deterministic body; its hash is checked on the way back.
type pattern struct{ left, off int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	n := int64(len(b))
	n = min(n, p.left)
	for i := range n {
		b[i] = byte((p.off + i) * 7 >> 3)
	}
	p.left -= n
	p.off += n
	return int(n), nil
}

func TestBidirectionalLargeBodiesComplete(t *testing.T) {
	const size = 64 << 20
	base := runtime.NumGoroutine()
	e := New(Options{Adaptive: true, BufferSize: 256 << 10, MemoryBudget: 4 << 20})
	srv := echoServer(e, 0)
	want := sha256.New()
	io.Copy(want, &pattern{left: size})
	resp, err := http.Post(srv.URL, "application/octet-stream", &pattern{left: size})
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	n, err := io.Copy(got, resp.Body)
	resp.Body.Close()
	if err != nil || n != size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("echoed %d bytes, err %v, intact %v", n, err, bytes.Equal(got.Sum(nil), want.Sum(nil)))
	}
	srv.Close()
	http.DefaultClient.CloseIdleConnections()
	noLeaks(t, e, base)
}

func TestKillingEitherSideLeavesNothingBehind(t *testing.T) {
	for _, side := range []string{"client", "server"} {
		t.Run(side, func(t *testing.T) {
			base := runtime.NumGoroutine()
			e := New(Options{Adaptive: true, BufferSize: 256 << 10, MemoryBudget: 4 << 20})
			var stopAfter int64
			if side == "server" {
				stopAfter = 8 << 20
			}
			srv := echoServer(e, stopAfter)
			ctx, cancel := context.WithCancel(context.Background())
			body := &pattern{left: 1 << 40} // far more than will ever move
			var sent atomic.Int64
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, readerFunc(func(p []byte) (int, error) {
				n, err := body.Read(p)
				sent.Add(int64(n))
				return n, err
			}))
			client := &http.Client{Transport: &http.Transport{}}
			resp, err := client.Do(req)
			if err == nil {
				var got int64
				buf := make([]byte, 64<<10)
				for {
					n, rerr := resp.Body.Read(buf)
					got += int64(n)
					if side == "client" && got >= 8<<20 {
						cancel() // the client dies mid-transfer
					}
					if rerr != nil {
						err = rerr
						break
					}
				}
				resp.Body.Close()
			}
			if err == nil || err == io.EOF || sent.Load() == 0 {
				t.Fatalf("transfer ended cleanly (%v) though one side died", err)
			}
			cancel()
			client.CloseIdleConnections()
			srv.Close()
			noLeaks(t, e, base)
		})
	}
}

// noLeaks waits until the goroutines started by a test have ended and the engine holds no
// buffer and counts no transfer in flight; it fails with every goroutine's stack otherwise.
// It polls because goroutines end in their own time; it asserts states, never durations.
func noLeaks(t *testing.T, e *Engine, base int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= base && e.Pool().InUse() == 0 && e.Stats().InFlight(Upload) == 0 && e.Stats().InFlight(Download) == 0 {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			stacks := string(buf[:runtime.Stack(buf, true)])
			t.Fatalf("%d goroutines left (started with %d), %d buffer bytes held:\n%s", n, base,
				e.Pool().InUse(), strings.TrimSpace(stacks))
		}
		time.Sleep(time.Millisecond)
	}
}
