package streaming

import (
	"io"
	"net/http"
	"time"
)

// sendSegment is how much one sendfile call may carry before the write deadline is renewed.
const sendSegment = 4 << 20

// ServeContent answers a GET or HEAD for content with http.ServeContent semantics (ranges,
// If-Range, conditional requests) while counting the bytes sent. When content is an *os.File
// the bytes still leave by sendfile: the wrapper passes ReadFrom through to the connection.
func (e *Engine) ServeContent(w http.ResponseWriter, r *http.Request, name string, modtime time.Time, content io.ReadSeeker, t Transfer) Result {
	start := time.Now()
	done := e.track(t)
	cw := &countingWriter{ResponseWriter: w, dl: newDeadline(t.Idle, t.SetDeadline)}
	var out http.ResponseWriter = cw
	if _, ok := w.(io.ReaderFrom); ok {
		out = &readFromWriter{countingWriter: cw, conn: heldConn(r)}
	}
	http.ServeContent(out, r, name, modtime, content)
	cw.dl.disarm()
	res := Result{Bytes: cw.n}
	if !cw.first.IsZero() {
		e.stats.TTFB.With(t.Protocol).Observe(cw.first.Sub(start).Seconds())
	}
	if e.opts.Adaptive && cw.n >= minSample {
		// Only transfers large enough to measure feed the profile's RTT: a 4 KiB GET is not
		// worth the extra getsockopt.
		res.RTT, _ = rttOf(r.Context())
	}
	return done(res, cw.err)
}

type countingWriter struct {
	http.ResponseWriter
	n     int64
	err   error
	dl    *deadline
	first time.Time // when the response's header went out: time to first byte
}

func (c *countingWriter) WriteHeader(code int) {
	if c.first.IsZero() && code >= 200 {
		c.first = time.Now()
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.first.IsZero() {
		c.first = time.Now()
	}
	c.dl.arm()
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = c.dl.explain(err)
	}
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer.
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// readFromWriter adds ReadFrom, kept apart so the wrapper claims it only when the real writer
// has it.
type readFromWriter struct {
	*countingWriter
	conn *coalescingConn // the plain HTTP/1 connection underneath, or nil
}

// ReadFrom hands a file to the connection's sendfile path in segments, renewing the write
// deadline between them, so a stalled reader is cut off without giving up zero-copy.
// net/http unwraps one io.LimitedReader around an *os.File, so each segment is exactly that.
func (c readFromWriter) ReadFrom(src io.Reader) (int64, error) {
	rf := c.ResponseWriter.(io.ReaderFrom)
	f, remain := fileOf(src)
	if f == nil {
		c.dl.arm()
		n, err := rf.ReadFrom(src)
		c.n += n
		return n, c.note(err)
	}
	// Send the header now: net/http would otherwise read the file's first 512 bytes to send
	// them with it (for sniffing, which a set Content-Type makes moot), one more read and copy
	// per download; this way every byte of the file leaves by sendfile. On a plain
	// connection the header is held and leaves just before the file's first bytes, flagged
	// as followed by them, so that both travel in the same segments (as nginx's tcp_nopush
	// does) and the client is woken once, not once for the header and again for the body.
	c.dl.arm()
	if c.conn != nil {
		c.conn.hold()
		defer c.conn.release(0)
	}
	if err := http.NewResponseController(c.ResponseWriter).Flush(); err != nil {
		return 0, c.note(err)
	}
	var total int64
	for remain != 0 {
		seg := int64(sendSegment)
		if remain > 0 && remain < seg {
			seg = remain
		}
		c.dl.arm()
		n, err := rf.ReadFrom(&io.LimitedReader{R: f, N: seg})
		total += n
		c.n += n
		if remain > 0 {
			remain -= n
		}
		if err != nil {
			return total, c.note(err)
		}
		if n < seg {
			break // end of file
		}
	}
	if lr, ok := src.(*io.LimitedReader); ok {
		lr.N -= total
	}
	return total, nil
}

func (c readFromWriter) note(err error) error {
	if err != nil && c.err == nil {
		c.err = c.dl.explain(err)
	}
	return err
}
