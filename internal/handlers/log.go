package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/rs/zerolog"
)

// requestInfo collects what a request's single log event reports. Handlers fill it in.
type requestInfo struct {
	id         string
	protocol   string
	name       string
	bytesIn    int64
	bufferSize int
	err        error
	stats      *Stats
	client     string // the client's address, forwarding headers of trusted proxies applied
}

type infoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(infoKey{}).(*requestInfo)
	return info
}

// requestIDs makes request ids: a random prefix chosen at start and a counter, so that ids
// are unique per process without a random-number syscall on every request.
type requestIDs struct {
	prefix [8]byte
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	ids := &requestIDs{}
	var b [4]byte
	rand.Read(b[:])
	hex.Encode(ids.prefix[:], b[:])
	return ids
}

func (ids *requestIDs) next() string {
	buf := make([]byte, 0, 25)
	buf = append(buf, ids.prefix[:]...)
	buf = append(buf, '-')
	return string(strconv.AppendUint(buf, ids.n.Add(1), 16))
}

// validRequestID accepts a proxy's request id when it is short and plain.
func validRequestID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// logRequests gives every request an id (echoed as X-Request-Id) and writes one event when it
// ends. The path is logged without its query, which holds signatures.
func logRequests(log zerolog.Logger, stats *Stats, px proxies) func(http.Handler) http.Handler {
	ids := newRequestIDs()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			info := &requestInfo{id: r.Header.Get("X-Request-Id"), stats: stats, client: px.clientAddr(r)}
			if !validRequestID(info.id) {
				info.id = ids.next()
			}
			w.Header().Set("X-Request-Id", info.id)
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			defer func() {
				if p := recover(); p != nil {
					if p == http.ErrAbortHandler {
						panic(p)
					}
					log.Error().Str("request_id", info.id).Interface("panic", p).Msg("handler panicked")
					if ww.Status() == 0 {
						writeError(ww, r, errorf(http.StatusInternalServerError, "internal error"))
					}
				}
				status := ww.Status()
				if status == 0 {
					status = http.StatusOK
				}
				elapsed := time.Since(start)
				stats.observe(r, status, elapsed.Seconds())
				lvl := zerolog.InfoLevel
				if status >= 500 {
					lvl = zerolog.ErrorLevel
				}
				ev := log.WithLevel(lvl).
					Str("request_id", info.id).
					Str("remote", remoteHost(r)).
					Str("method", r.Method).
					Str("path", r.URL.Path).
					Int("status", status).
					Int64("bytes_in", info.bytesIn).
					Int("bytes_out", ww.BytesWritten()).
					Dur("duration", elapsed)
				if info.protocol != "" {
					ev = ev.Str("protocol", info.protocol)
				}
				if info.bufferSize > 0 {
					ev = ev.Int("buffer_size", info.bufferSize)
				}
				if info.err != nil {
					ev = ev.Str("error", info.err.Error())
				}
				ev.Msg("request")
			}()
			next.ServeHTTP(ww, r.WithContext(context.WithValue(r.Context(), infoKey{}, info)))
		})
	}
}

// remoteHost is the client's address: the peer's, or the one a trusted proxy forwarded for.
func remoteHost(r *http.Request) string {
	if info := infoFrom(r.Context()); info != nil && info.client != "" {
		return info.client
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
