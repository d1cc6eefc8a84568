package streaming

import (
	"net/http"
	"time"
)

// maxHeldBody is the largest body ServeBytes sends together with its header in one write:
// beyond it the copy into one buffer costs about what the saved write does.
const maxHeldBody = 64 << 10

// ServeBytes answers a GET or HEAD with an in-memory body (a cached small file). The caller
// has set every header, Content-Length included, and decided the status (200, or 304 for a
// conditional request it could answer). The body is sent unless the request is HEAD or the
// status forbids one, counted like any other download. On a connection accepted through
// Listener, an HTTP/1 response's header and body leave in one write.
func (e *Engine) ServeBytes(w http.ResponseWriter, r *http.Request, status int, body []byte, t Transfer) Result {
	start := time.Now()
	done := e.track(t)
	if r.Method == http.MethodHead || status == http.StatusNotModified || status == http.StatusNoContent || len(body) == 0 {
		w.WriteHeader(status)
		e.stats.TTFB.With(t.Protocol).Observe(time.Since(start).Seconds())
		return done(Result{}, nil)
	}
	var held *coalescingConn
	if len(body) <= maxHeldBody {
		held = heldConn(r)
	}
	if held != nil {
		held.hold()
	}
	w.WriteHeader(status)
	e.stats.TTFB.With(t.Protocol).Observe(time.Since(start).Seconds())
	if held != nil {
		// Everything up to release only fills memory; release writes, with its own deadline.
		n, err := w.Write(body)
		if err == nil {
			err = http.NewResponseController(w).Flush()
		}
		if rerr := held.release(t.Idle); err == nil {
			err = rerr
		}
		if isTimeout(err) {
			err = ErrIdle
		}
		return done(Result{Bytes: int64(n)}, err)
	}
	dl := newDeadline(t.Idle, t.SetDeadline)
	dl.arm()
	n, err := w.Write(body)
	dl.disarm()
	return done(Result{Bytes: int64(n)}, dl.explain(err))
}
