package handlers_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rs/zerolog"

	"fileserver/internal/streaming"
)

// memWriter is the least a handler needs from a response: headers, kept between requests
// and cleared, and a body that is only counted. It lets a benchmark see the handler chain's
// own allocations, without a recorder's or net/http's.
type memWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *memWriter) Header() http.Header { return w.h }

func (w *memWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *memWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.n += len(p)
	return len(p), nil
}

// Flush is there because net/http's writer has it; ServeBytes flushes before its one write.
func (w *memWriter) Flush() {}

func (w *memWriter) reset() {
	clear(w.h)
	w.status, w.n = 0, 0
}

// BenchmarkGetCached is a cached 4 KiB GET (and HEAD, and a 304) through the whole handler
// chain (logging, counters, CORS and security headers, limits, routing, the download cache,
// the engine) with an in-memory writer, so allocs/op is the chain's own. The request carries
// a real accepted connection in its context, as streaming.ConnContext gives it in serve, so
// ServeBytes takes its one-write path (nothing reaches the socket: the writer keeps the
// bytes). "info" writes the request's log event (to io.Discard); "warn" is bench/get.sh's
// configuration, which does not.
func BenchmarkGetCached(b *testing.B) {
	for _, bc := range []struct {
		name, method, inm string
		level             zerolog.Level
		want              int
	}{
		{"GET/warn", http.MethodGet, "", zerolog.WarnLevel, http.StatusOK},
		{"GET/info", http.MethodGet, "", zerolog.InfoLevel, http.StatusOK},
		{"HEAD/warn", http.MethodHead, "", zerolog.WarnLevel, http.StatusOK},
		{"304/warn", http.MethodGet, "*", zerolog.WarnLevel, http.StatusNotModified},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := newBenchHandler(b, true, zerolog.New(io.Discard).Level(bc.level))
			req := httptest.NewRequest(bc.method, "/upload/bench/small.bin", nil)
			req = req.WithContext(streaming.ConnContext(req.Context(), acceptedConn(b)))
			req.RemoteAddr = "127.0.0.1:40000"
			if bc.inm != "" {
				req.Header.Set("If-None-Match", bc.inm)
			}
			w := &memWriter{h: http.Header{}}
			h.ServeHTTP(w, req) // fills the cache
			b.ReportAllocs()
			for b.Loop() {
				w.reset()
				h.ServeHTTP(w, req)
				if w.status != bc.want {
					b.Fatal(w.status)
				}
			}
		})
	}
}

// acceptedConn is the server side of a loopback TCP connection, accepted through
// streaming.Listener as serve accepts its connections.
func acceptedConn(b *testing.B) net.Conn {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { client.Close() })
	c, err := streaming.Listener(ln).Accept()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}
