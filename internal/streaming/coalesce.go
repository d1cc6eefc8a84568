package streaming

import (
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"
)

// Listener wraps a TCP listener so that ServeBytes can send an HTTP/1 response's header and
// body in one write. net/http writes a response through a 4 KiB buffer: a 4 KiB body and
// its header leave in two writes, two segments, and two wake-ups of the client, which costs a
// small-file GET about a sixth of its rate. Connections are otherwise untouched: sendfile,
// CloseWrite, deadlines and TCP_INFO reach the *net.TCPConn underneath.
func Listener(l net.Listener) net.Listener { return listener{l} }

type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok && err == nil {
		return &coalescingConn{TCPConn: tc}, nil
	}
	return c, err
}

// holdPool keeps the buffers that gather a held response.
var holdPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// coalescingConn gathers what is written between hold and release and sends it in one write.
type coalescingConn struct {
	*net.TCPConn
	mu   sync.Mutex
	held *[]byte // nil unless held
}

// NetConn is the connection underneath, for TCP_INFO.
func (c *coalescingConn) NetConn() net.Conn { return c.TCPConn }

// maxHeld bounds what a held connection gathers: past it, what was held leaves and the rest
// is written as it comes, so holding never buffers a large body.
const maxHeld = 128 << 10

func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	held := c.held != nil
	if held && len(*c.held)+len(p) <= maxHeld {
		*c.held = append(*c.held, p...)
		c.mu.Unlock()
		return len(p), nil
	}
	c.mu.Unlock()
	if held {
		if err := c.release(0); err != nil {
			return 0, err
		}
	}
	return c.TCPConn.Write(p)
}

// heldConn is the connection under r when a response on it may be held: a plain HTTP/1
// connection accepted through Listener; else nil.
func heldConn(r *http.Request) *coalescingConn {
	if c, ok := connFrom(r.Context()).(*coalescingConn); ok && r.ProtoMajor == 1 {
		return c
	}
	return nil
}

// ReadFrom keeps sendfile (net/http asks the connection for io.ReaderFrom) after sending
// anything still held, marked as followed by the file's bytes; a file, whole or limited,
// goes by sendFile.
func (c *coalescingConn) ReadFrom(r io.Reader) (int64, error) {
	f, n := fileOf(r)
	if err := c.flush(0, f != nil); err != nil {
		return 0, err
	}
	if f != nil {
		written, handled, err := sendFile(c.TCPConn, f, n)
		if handled {
			if lr, ok := r.(*io.LimitedReader); ok {
				lr.N -= written
			}
			return written, err
		}
	}
	return c.TCPConn.ReadFrom(r)
}

// fileOf is the file r reads and how much of it (-1: to its end), or nil.
func fileOf(r io.Reader) (*os.File, int64) {
	switch s := r.(type) {
	case *os.File:
		return s, -1
	case *io.LimitedReader:
		if f, ok := s.R.(*os.File); ok && s.N > 0 {
			return f, s.N
		}
	}
	return nil, 0
}

// hold starts gathering writes.
func (c *coalescingConn) hold() {
	c.mu.Lock()
	if c.held == nil {
		c.held = holdPool.Get().(*[]byte)
	}
	c.mu.Unlock()
}

// release sends what was gathered in one write and stops gathering. A write that the socket
// takes at once (the usual case for a small response) needs no deadline; only when the
// client's window is full does the wait get one, idle from then (0: none), so a client that
// reads nothing is cut off and a prompt one costs no timer.
func (c *coalescingConn) release(idle time.Duration) error { return c.flush(idle, false) }

// flush is release; more tells the kernel that more data follows at once (MSG_MORE), so that
// what is sent now waits to share a segment with it.
func (c *coalescingConn) flush(idle time.Duration, more bool) error {
	c.mu.Lock()
	b := c.held
	c.held = nil
	c.mu.Unlock()
	if b == nil {
		return nil
	}
	err := c.writeAll(*b, idle, more)
	if cap(*b) <= maxHeld {
		*b = (*b)[:0]
		holdPool.Put(b)
	}
	return err
}

func (c *coalescingConn) writeAll(p []byte, idle time.Duration, more bool) error {
	raw, err := c.TCPConn.SyscallConn()
	if err != nil {
		_, err = c.TCPConn.Write(p)
		return err
	}
	var werr error
	armed := false
	err = raw.Write(func(fd uintptr) bool {
		for len(p) > 0 {
			n, err := write(int(fd), p, more)
			if n > 0 {
				p = p[n:]
			}
			switch {
			case err == syscall.EINTR:
			case err == syscall.EAGAIN:
				if idle > 0 && !armed {
					armed = c.TCPConn.SetWriteDeadline(time.Now().Add(idle)) == nil
				}
				return false // wait until writable
			case err != nil:
				werr = err
				return true
			case n == 0:
				werr = io.ErrShortWrite
				return true
			}
		}
		return true
	})
	if armed {
		c.TCPConn.SetWriteDeadline(time.Time{})
	}
	if err == nil {
		err = werr
	}
	return err
}
