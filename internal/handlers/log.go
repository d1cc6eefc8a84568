package handlers

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"
)

// requestInfo collects what a request's single log event reports. Handlers fill it in.
type requestInfo struct {
	id         string
	protocol   string
	bytesIn    int64
	bufferSize int
	err        error
	stats      *Stats
	client     string // the client's address, forwarding headers of trusted proxies applied
	// download is the file a GET asks for from its start, counted as a download when the
	// answer is 200 or 206.
	download string
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
// ends. The path is logged without its query, which holds signatures. It goes around the
// router rather than being one of its middlewares: a request's routing context is then
// pooled here and found by chi in the request's context (see requestState), which saves the
// context and request copy chi's Mux would make.
func logRequests(log zerolog.Logger, stats *Stats, px proxies) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		l := &requestLog{log: log, stats: stats, px: px, ids: newRequestIDs()}
		l.routes, _ = next.(chi.Routes)
		l.routeContexts.New = func() any { return chi.NewRouteContext() }
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st, ww := l.begin(w, r)
			defer l.end(st, r, ww)
			ctx := context.WithValue(context.WithValue(r.Context(), infoKey{}, &st.info), chi.RouteCtxKey, st.route)
			next.ServeHTTP(ww, r.WithContext(ctx))
		})
	}
}

// requestLog is logRequests' state around one router.
type requestLog struct {
	log    zerolog.Logger
	stats  *Stats
	px     proxies
	ids    *requestIDs
	routes chi.Routes // nil when the handler is not a chi router
	// routeContexts keeps chi routing contexts, whose slices routing fills, between requests.
	routeContexts sync.Pool
}

// begin makes a request's state and its response writer.
func (l *requestLog) begin(w http.ResponseWriter, r *http.Request) (*requestState, http.ResponseWriter) {
	rc := l.routeContexts.Get().(*chi.Context)
	rc.Reset()
	rc.Routes = l.routes
	st := &requestState{route: rc, start: time.Now()}
	info := &st.info
	info.id, info.stats, info.client = headerValue(r.Header, "X-Request-Id"), l.stats, peerHost(r)
	if len(l.px) > 0 {
		info.client = l.px.clientAddr(r)
	}
	if !validRequestID(info.id) {
		info.id = l.ids.next()
	}
	st.idValue[0] = info.id
	w.Header()["X-Request-Id"] = st.idValue[:]
	return st, st.wrap(w, r.ProtoMajor)
}

// end is deferred by logRequests: it turns a panic into a 500 (http.ErrAbortHandler goes
// on), counts the request and writes its event.
func (l *requestLog) end(st *requestState, r *http.Request, ww http.ResponseWriter) {
	info := &st.info
	if p := recover(); p != nil {
		if p == http.ErrAbortHandler {
			panic(p)
		}
		l.log.Error().Str("request_id", info.id).Interface("panic", p).Msg("handler panicked")
		if st.w.status == 0 {
			writeError(ww, r, errorf(http.StatusInternalServerError, "internal error"))
		}
	}
	status := st.w.status
	if status == 0 {
		status = http.StatusOK
	}
	elapsed := time.Since(st.start)
	l.stats.observe(st.route.RoutePattern(), r.Method, status, elapsed.Seconds())
	if info.download != "" && (status == http.StatusOK || status == http.StatusPartialContent) {
		l.stats.ops.Downloaded(info.download, info.client)
	}
	// Back to the pool when the request is done, as chi's Mux does with its own routing
	// contexts; code that keeps one longer uses chi.Context.Clone.
	l.routeContexts.Put(st.route)
	lvl := zerolog.InfoLevel
	if status >= 500 {
		lvl = zerolog.ErrorLevel
	}
	ev := l.log.WithLevel(lvl)
	if ev == nil {
		return // level off: nothing below would be written
	}
	ev = ev.Str("request_id", info.id).
		Str("remote", info.client).
		Str("method", r.Method).
		Str("path", r.URL.Path).
		Int("status", status).
		Int64("bytes_in", info.bytesIn).
		Int("bytes_out", st.w.bytes).
		Float64("duration_ms", float64(elapsed)/float64(time.Millisecond))
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
}

// requestState is what logRequests keeps for one request, in one allocation: the log's
// requestInfo, chi's routing context, the response writer that records status and size, and
// the X-Request-Id header value. The request's context carries the first two as plain
// values; chi's Mux uses a routing context it finds there (as sub-routers use their
// parent's), so it adds neither a context layer nor a copy of the request of its own.
type requestState struct {
	info    requestInfo
	route   *chi.Context // pooled, as chi's Mux pools its own
	start   time.Time
	w       h1StatusWriter
	idValue [1]string
}

// wrap returns w wrapped in st's status writer, offering the optional interfaces of w that
// chi's middleware.WrapResponseWriter offered: Flusher, Hijacker and io.ReaderFrom (which
// keeps sendfile) on HTTP/1, Flusher and Pusher on HTTP/2. Anything else is reached through
// Unwrap (http.ResponseController).
func (st *requestState) wrap(w http.ResponseWriter, protoMajor int) http.ResponseWriter {
	st.w.ResponseWriter = w
	_, fl := w.(http.Flusher)
	if protoMajor == 2 {
		if _, ps := w.(http.Pusher); fl && ps {
			return (*h2StatusWriter)(&st.w)
		}
	} else {
		_, hj := w.(http.Hijacker)
		_, rf := w.(io.ReaderFrom)
		if fl && hj && rf {
			return &st.w
		}
	}
	if fl {
		return (*flushStatusWriter)(&st.w)
	}
	return &st.w.statusWriter
}

// statusWriter records the status and the body bytes of a response, for the log and the
// counters.
type statusWriter struct {
	http.ResponseWriter
	status int // of the final response; 0 until it is written
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		// An interim response (104 for resumable uploads, 103): the final one follows.
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if w.status == 0 {
		w.status = code
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// SetWriteDeadline is http.ResponseController's, offered directly so that a download can
// take it as a method value (see downloadTransfer) without making a controller first.
func (w *statusWriter) SetWriteDeadline(t time.Time) error {
	return http.NewResponseController(w.ResponseWriter).SetWriteDeadline(t)
}

func (w *statusWriter) flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	w.ResponseWriter.(http.Flusher).Flush()
}

// The variants below differ only in their method sets; they share statusWriter's layout, so
// requestState holds one and converts its pointer.
type (
	flushStatusWriter struct{ statusWriter }
	h1StatusWriter    struct{ statusWriter }
	h2StatusWriter    struct{ statusWriter }
)

var (
	_ http.Flusher  = (*flushStatusWriter)(nil)
	_ http.Flusher  = (*h1StatusWriter)(nil)
	_ http.Hijacker = (*h1StatusWriter)(nil)
	_ io.ReaderFrom = (*h1StatusWriter)(nil)
	_ http.Flusher  = (*h2StatusWriter)(nil)
	_ http.Pusher   = (*h2StatusWriter)(nil)
)

func (w *flushStatusWriter) Flush() { w.flush() }
func (w *h1StatusWriter) Flush()    { w.flush() }
func (w *h2StatusWriter) Flush()    { w.flush() }

func (w *h1StatusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.ResponseWriter.(http.Hijacker).Hijack()
}

// ReadFrom hands the copy to net/http's own ReadFrom, which uses sendfile for files.
func (w *h1StatusWriter) ReadFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.(io.ReaderFrom).ReadFrom(src)
	w.bytes += int(n)
	return n, err
}

func (w *h2StatusWriter) Push(target string, opts *http.PushOptions) error {
	return w.ResponseWriter.(http.Pusher).Push(target, opts)
}

// remoteHost is the client's address: the peer's, or the one a trusted proxy forwarded for.
func remoteHost(r *http.Request) string {
	if info := infoFrom(r.Context()); info != nil && info.client != "" {
		return info.client
	}
	return peerHost(r)
}

// peerHost is the address of the connection's peer, without its port.
func peerHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
