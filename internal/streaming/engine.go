package streaming

import (
	"context"
	"errors"
	"io"
	"time"

	"fileserver/internal/adaptivebuf"
)

// Sentinel errors of a transfer, for callers to map to statuses.
var (
	// ErrTooLarge: the source had more bytes than Transfer.Limit allows.
	ErrTooLarge = errors.New("streaming: body exceeds the size limit")
	// ErrIdle: the peer sent or took nothing for longer than the idle timeout.
	ErrIdle = errors.New("streaming: peer idle for too long")
)

// Direction says which way a transfer's bytes flow, seen from the server.
type Direction string

// Directions.
const (
	Upload   Direction = "upload"
	Download Direction = "download"
)

// Transfer describes one copy for the engine's policy and accounting.
type Transfer struct {
	Protocol  string // "v1", "v2", "v3", "token", "post", "get", ...
	Direction Direction
	Client    string // the client key (address) whose profile this transfer feeds
	// Limit is the most bytes the source may yield; reading more fails with ErrTooLarge.
	// 0 means no limit.
	Limit int64
	// Idle is the longest the source may go without yielding a byte (uploads) or the
	// destination without taking one (downloads). 0 disables it.
	Idle time.Duration
	// SetDeadline arms the connection's read (uploads) or write (downloads) deadline, as
	// http.ResponseController does; nil when the connection has none.
	SetDeadline func(time.Time) error
}

// Result is what a transfer measured.
type Result struct {
	Bytes      int64
	Duration   time.Duration
	BufferSize int
}

// Options configure an Engine.
type Options struct {
	// BufferSize is the copy buffer of every transfer.
	BufferSize int
}

// Engine is the one path every uploaded or downloaded byte takes.
type Engine struct {
	pool  *adaptivebuf.Pool
	stats *Stats
}

// New builds an Engine.
func New(o Options) *Engine {
	if o.BufferSize <= 0 {
		o.BufferSize = 1 << 20
	}
	return &Engine{pool: adaptivebuf.NewPool(o.BufferSize), stats: newStats()}
}

// Stats exposes the engine's counters, for the metrics adapter.
func (e *Engine) Stats() *Stats { return e.stats }

// Pool exposes the buffer pool, for the metrics adapter.
func (e *Engine) Pool() *adaptivebuf.Pool { return e.pool }

// Copy moves src to dst through a pooled buffer. dst should not be an *os.File: its
// ReadFrom would ignore the buffer (wrap it). The copy stops at ctx's end, at Limit, or
// when the source idles past Idle.
func (e *Engine) Copy(ctx context.Context, dst io.Writer, src io.Reader, t Transfer) (Result, error) {
	buf := e.pool.Acquire()
	defer e.pool.Release(buf)
	start := time.Now()
	e.stats.begin(t)
	res := Result{BufferSize: len(buf.B)}
	dl := newDeadline(t.Idle, t.SetDeadline)
	var err error
	for {
		if ctx.Err() != nil {
			err = context.Cause(ctx)
			break
		}
		p := buf.B
		if t.Limit > 0 && int64(len(p)) > t.Limit-res.Bytes+1 {
			// Read one byte past the limit so a body of exactly Limit bytes is not refused.
			p = p[:t.Limit-res.Bytes+1]
		}
		dl.arm()
		n, rerr := src.Read(p)
		if n > 0 {
			if t.Limit > 0 && res.Bytes+int64(n) > t.Limit {
				err = ErrTooLarge
				break
			}
			wn, werr := dst.Write(p[:n])
			res.Bytes += int64(wn)
			if werr != nil {
				err = werr
				break
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			err = dl.explain(rerr)
			break
		}
	}
	dl.disarm()
	res.Duration = time.Since(start)
	e.stats.end(t, res, err)
	return res, err
}

// deadline refreshes a connection deadline as bytes move, at most every quarter of the idle
// period, so the per-read cost stays a clock read.
type deadline struct {
	idle  time.Duration
	set   func(time.Time) error
	armed time.Time
}

func newDeadline(idle time.Duration, set func(time.Time) error) *deadline {
	if idle <= 0 || set == nil {
		return &deadline{}
	}
	return &deadline{idle: idle, set: set}
}

func (d *deadline) arm() {
	if d.set == nil {
		return
	}
	now := time.Now()
	if now.Sub(d.armed) < d.idle/4 {
		return
	}
	if d.set(now.Add(d.idle)) != nil {
		d.set = nil // the connection cannot take deadlines; stop trying
		return
	}
	d.armed = now
}

func (d *deadline) disarm() {
	if d.set != nil {
		d.set(time.Time{})
	}
}

// explain turns a deadline expiry into ErrIdle.
func (d *deadline) explain(err error) error {
	if d.set != nil && isTimeout(err) {
		return ErrIdle
	}
	return err
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}
