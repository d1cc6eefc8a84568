package chunking

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"fileserver/internal/counters"
)

// Locker gives each session one writer at a time. A request that wants a session held by
// another cuts the holder off at once (the holder's cancel function interrupts its body read)
// and takes over as soon as the holder has persisted what it received: a client that lost
// its connection and retries must not wait for the old request to time out. A Locker shared
// by several nodes (Redis) does this across nodes.
type Locker interface {
	// Lock takes id's lock, cutting off any holder. cancel is how a later request will cut
	// this one off (nil: this request is short and is waited for). The lease's Release must
	// be called exactly once.
	Lock(ctx context.Context, id string, cancel func()) (Lease, error)
}

// Lease is one holding of a session's lock.
type Lease struct {
	// Fence is the lease's fencing token: larger than that of every earlier lease on the
	// session. A SessionStore shared by nodes refuses writes under a lease that was lost.
	Fence int64
	// Waited is how long the request waited for another holder to let go (0 if none held it).
	Waited time.Duration
	// Release gives the lock up.
	Release func()
}

// MemLocker is the Locker of one process.
type MemLocker struct {
	mu    sync.Mutex
	held  map[string]*holder
	fence atomic.Int64
}

type holder struct {
	cancel func()
	done   chan struct{}
}

var _ Locker = (*MemLocker)(nil)

// NewMemLocker returns an in-process Locker.
func NewMemLocker() *MemLocker { return &MemLocker{held: map[string]*holder{}} }

// Lock implements Locker.
func (l *MemLocker) Lock(ctx context.Context, id string, cancel func()) (Lease, error) {
	var start time.Time
	for {
		l.mu.Lock()
		h := l.held[id]
		if h == nil {
			mine := &holder{cancel: cancel, done: make(chan struct{})}
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
		if start.IsZero() {
			start = time.Now()
		}
		if h.cancel != nil {
			h.cancel()
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
func (u *Uploads) lock(ctx context.Context, id string, cancel func()) (Lease, error) {
	l, err := u.locker.Lock(ctx, id, cancel)
	if err == nil && l.Waited > 0 {
		u.handoffs.n.Add(1)
		u.handoffs.nanos.Add(int64(l.Waited))
		u.handoffs.times.Observe(l.Waited.Seconds())
	}
	return l, err
}
