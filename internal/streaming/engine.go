package streaming

import (
	"context"
	"errors"
	"fmt"
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
	// ErrBusy: no buffer fits the memory budget now (policy "refuse", or the wait for one
	// ended). Nothing was read; answer 503 with Retry-After (see RetryAfter).
	ErrBusy = errors.New("streaming: memory budget exhausted, retry later")
)

// RetryAfter is the delay to suggest to a client refused with ErrBusy.
const RetryAfter = 5 * time.Second

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
	// Client is the key (address, or resumable session) whose profile this transfer feeds
	// and is sized from; empty means no profile.
	Client string
	// Limit is the most bytes the source may yield; reading more fails with ErrTooLarge.
	// 0 means no limit. A known limit also caps the buffer: a 10 KiB body gets no 1 MiB buffer.
	Limit int64
	// Idle is the longest the source may go without yielding a byte (uploads) or the
	// destination without taking one (downloads). 0 disables it.
	Idle time.Duration
	// SetDeadline arms the connection's read (uploads) or write (downloads) deadline, as
	// http.ResponseController does; nil when the connection has none.
	SetDeadline func(time.Time) error
	// Upload, on an upload, names it for those who watch uploads in progress (see Flights).
	Upload *UploadInfo
}

// Result is what a transfer measured.
type Result struct {
	Bytes      int64
	Duration   time.Duration
	BufferSize int           // the buffer in use at the end (0 when sendfile carried it)
	Resizes    int           // how often the buffer changed size during the transfer
	Stalls     int           // reads or writes that took longer than the stall threshold
	RTT        time.Duration // the connection's smoothed RTT, 0 when unknown
}

// ChunkPolicy is how ChunkSize picks a chunk size.
type ChunkPolicy int

// Chunk policies.
const (
	// ChunkAdaptive: ChunkTarget at the client's measured throughput, shrunk for clients
	// whose transfers break off, within [MinChunk, MaxChunk].
	ChunkAdaptive ChunkPolicy = iota
	// ChunkFixed: always MaxChunk.
	ChunkFixed
)

// Options configure an Engine. The zero value of every field but BufferSize has a default,
// and Adaptive off keeps every buffer at BufferSize (as far as the budget allows).
type Options struct {
	// BufferSize is the buffer of a transfer from an unmeasured client, and of every transfer
	// when Adaptive is off (rounded up to a pool size class).
	BufferSize int
	// Adaptive sizes buffers from the client's measured throughput and RTT.
	Adaptive bool
	// MinBuffer and MaxBuffer bound the buffers (defaults 16 KiB and 1 MiB, or BufferSize).
	MinBuffer, MaxBuffer int
	// MemoryBudget caps all buffers together (default 128 MiB).
	MemoryBudget int64
	// OnBudgetExhausted is the pool's policy when a buffer does not fit.
	OnBudgetExhausted adaptivebuf.Policy
	// BudgetWait bounds the wait for a buffer (0: only the request's context).
	BudgetWait time.Duration
	// ChunkPolicy, ChunkTarget, MinChunk and MaxChunk shape ChunkSize
	// (defaults adaptive, 10 s, 1 MiB, 64 MiB).
	ChunkPolicy        ChunkPolicy
	ChunkTarget        time.Duration
	MinChunk, MaxChunk int64
	// ProfileTTL is how long an unseen client's profile is kept (default 1 h); MaxProfiles
	// caps how many are kept (default 16384).
	ProfileTTL  time.Duration
	MaxProfiles int
	// StallThreshold is how long one read or write may take before it counts as a stall
	// (default 1 s).
	StallThreshold time.Duration
}

func (o *Options) defaults() {
	if o.BufferSize <= 0 {
		o.BufferSize = 1 << 20
	}
	if o.MinBuffer <= 0 {
		o.MinBuffer = min(adaptivebuf.MinClass, o.BufferSize)
	}
	if o.MaxBuffer <= 0 {
		o.MaxBuffer = max(1<<20, o.BufferSize)
	}
	if o.MemoryBudget <= 0 {
		o.MemoryBudget = 128 << 20
	}
	if o.ChunkTarget <= 0 {
		o.ChunkTarget = 10 * time.Second
	}
	if o.MinChunk <= 0 {
		o.MinChunk = 1 << 20
	}
	if o.MaxChunk < o.MinChunk {
		o.MaxChunk = max(64<<20, o.MinChunk)
	}
	if o.ProfileTTL <= 0 {
		o.ProfileTTL = time.Hour
	}
	if o.MaxProfiles <= 0 {
		o.MaxProfiles = 16384
	}
	if o.StallThreshold <= 0 {
		o.StallThreshold = time.Second
	}
}

// Engine is the one path every uploaded or downloaded byte takes.
type Engine struct {
	opts     Options
	pool     *adaptivebuf.Pool
	stats    *Stats
	profiles *profiles
	flights  flights
	// now and resizeEvery are fields so tests can drive the policy without sleeping.
	now         func() time.Time
	resizeEvery time.Duration
}

// New builds an Engine.
func New(o Options) *Engine {
	o.defaults()
	pool := adaptivebuf.New(adaptivebuf.Options{
		Budget: o.MemoryBudget, Min: o.MinBuffer, Max: o.MaxBuffer,
		Policy: o.OnBudgetExhausted, MaxWait: o.BudgetWait,
	})
	return &Engine{opts: o, pool: pool, stats: newStats(), profiles: newProfiles(o.ProfileTTL, o.MaxProfiles),
		now: time.Now, resizeEvery: resizeEvery}
}

// Stats exposes the engine's counters, for the metrics adapter.
func (e *Engine) Stats() *Stats { return e.stats }

// Pool exposes the buffer pool, for the metrics adapter.
func (e *Engine) Pool() *adaptivebuf.Pool { return e.pool }

// Copy moves src to dst through a pooled buffer sized for the client, resizing it as the
// transfer's measured rate asks (growing only when the budget has room, never waiting with
// a buffer held). dst should not be an *os.File: its ReadFrom would ignore the buffer (wrap
// it). The copy stops at ctx's end, at Limit, or when the source idles past Idle. When no
// buffer fits the budget it returns an error matching ErrBusy before reading anything.
func (e *Engine) Copy(ctx context.Context, dst io.Writer, src io.Reader, t Transfer) (Result, error) {
	start := e.now()
	e.stats.begin(t)
	flight := e.beginFlight(t, start)
	res := Result{}
	rtt, _ := rttOf(ctx)
	res.RTT = rtt
	want := e.initialSize(t, rtt)
	buf, err := e.pool.Acquire(ctx, want)
	if err != nil {
		if errors.Is(err, adaptivebuf.ErrBudget) {
			err = fmt.Errorf("%w: %w", ErrBusy, err)
		}
		res.Duration = e.now().Sub(start)
		e.stats.end(t, res, err)
		e.endFlight(flight, err)
		return res, err
	}
	sz := newSizer(e, t, rtt, start)
	dl := newDeadline(t.Idle, t.SetDeadline)
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
			if flight != nil {
				flight.wrote(wn, time.Now())
			}
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
		buf = sz.after(buf, n, len(p))
	}
	dl.disarm()
	res.BufferSize = len(buf.B)
	e.pool.Release(buf)
	res.Duration = e.now().Sub(start)
	res.Resizes, res.Stalls = sz.resizes, sz.stalls
	e.stats.end(t, res, err)
	e.learn(t, res, err)
	e.endFlight(flight, err)
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
	if err == nil {
		return false // without the allocation errors.As costs: te escapes
	}
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}
