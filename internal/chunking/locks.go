package chunking

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"fileserver/internal/counters"
)

// Locker gives each session one writer at a time. A request that wants a session held by a
// stale request (one that has received nothing for a while: its client is probably gone)
// cuts the holder off at once (the holder's cancel function interrupts its body read) and
// takes over as soon as the holder has persisted what it received: a client that lost its
// connection and retries must not wait for the old request to time out. A holder that is
// still receiving keeps the session, and the newcomer gets ErrBusy at once, unless it forces
// the take-over (HEAD and DELETE: the client itself gave up on whatever request is running).
// A Locker shared by several nodes (Redis) does all this across nodes.
type Locker interface {
	// Lock takes id's lock as the Claim says. The lease's Release must be called exactly once.
	Lock(ctx context.Context, id string, c Claim) (Lease, error)
}

// Claim is what a request brings to Lock.
type Claim struct {
	// Cancel is how a later request cuts this one off; nil for a short request, which is
	// waited for. It must return at once and be safe to call more than once and from any
	// goroutine.
	Cancel func()
	// Idle is how long this request has gone without receiving a byte; nil for a request
	// that receives none (it never counts as stale, and is waited for).
	Idle func() time.Duration
	// Force cuts off a holder even while it is receiving.
	Force bool
}

// DefaultStaleAfter is how long a holder must have received nothing before a request that
// does not force is allowed to cut it off.
const DefaultStaleAfter = 2 * time.Second

// Lease is one holding of a session's lock.
type Lease struct {
	// Fence is the lease's fencing token: larger than that of every earlier lease on the
	// session. A SessionStore shared by nodes refuses writes under a lease that was lost.
	Fence int64
	// Waited is how long the request waited for another holder to let go (0 if none held it).
	Waited time.Duration
	// Release gives the lock up.
	Release func()
	// Check reports, with ErrFenced, a lease that was lost (its node stalled past it, and
	// another request may hold the upload now); nil means a lease that cannot be lost (one
	// process). Writes that others could see are checked against it first.
	Check func(ctx context.Context) error
}

// guard is the lease's check for storage (storage.PartialRef.Guard); nil when it has none.
func (l Lease) guard() func(context.Context) error { return l.Check }

// MemLocker is the Locker of one process.
type MemLocker struct {
	staleAfter time.Duration
	mu         sync.Mutex
	held       map[string]*holder
	fence      atomic.Int64
}

type holder struct {
	Claim
	done chan struct{}
}

// Live reports whether a holder with this claim keeps its session from a request that does
// not force: it receives bytes (Idle is set) and received one within staleAfter.
func (c Claim) Live(staleAfter time.Duration) bool {
	return c.Idle != nil && c.Idle() < staleAfter
}

var _ Locker = (*MemLocker)(nil)

// NewMemLocker returns an in-process Locker. A holder that has received nothing for
// staleAfter (DefaultStaleAfter when 0) is cut off by any request for its session.
func NewMemLocker(staleAfter time.Duration) *MemLocker {
	if staleAfter <= 0 {
		staleAfter = DefaultStaleAfter
	}
	return &MemLocker{staleAfter: staleAfter, held: map[string]*holder{}}
}

// Lock implements Locker.
func (l *MemLocker) Lock(ctx context.Context, id string, c Claim) (Lease, error) {
	var start time.Time
	for {
		l.mu.Lock()
		h := l.held[id]
		if h == nil {
			mine := &holder{Claim: c, done: make(chan struct{})}
			l.held[id] = mine
			l.mu.Unlock()
			var waited time.Duration
			if !start.IsZero() {
				waited = time.Since(start)
			}
			return Lease{Fence: l.fence.Add(1), Waited: waited, Release: func() {
				l.mu.Lock()
				delete(l.held, id)
				l.mu.Unlock()
				close(mine.done)
			}}, nil
		}
		l.mu.Unlock()
		if !c.Force && h.Live(l.staleAfter) {
			return Lease{}, ErrBusy
		}
		if start.IsZero() {
			start = time.Now()
		}
		if h.Cancel != nil {
			h.Cancel()
		}
		select {
		case <-h.done:
		case <-ctx.Done():
			return Lease{}, context.Cause(ctx)
		}
	}
}

// handoffs counts the times a request had to take a session over from another.
type handoffs struct {
	n, nanos atomic.Int64
	times    *counters.Histogram
}

func newHandoffs() *handoffs { return &handoffs{times: counters.NewHistogram(counters.SecondBuckets)} }

// lock takes id's lock through the Locker and counts the hand-off, if there was one.
func (u *Uploads) lock(ctx context.Context, id string, c Claim) (Lease, error) {
	l, err := u.locker.Lock(ctx, id, c)
	if errors.Is(err, ErrBusy) {
		u.stats.busy.Add(1)
	}
	if err == nil && l.Waited > 0 {
		u.handoffs.n.Add(1)
		u.handoffs.nanos.Add(int64(l.Waited))
		u.handoffs.times.Observe(l.Waited.Seconds())
	}
	return l, err
}
