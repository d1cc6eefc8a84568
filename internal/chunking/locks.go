package chunking

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"fileserver/internal/counters"
)

// locks gives each session one writer at a time. A request that wants a session held by
// another cuts the holder off at once (its cancel function interrupts its body read) and
// takes over as soon as the holder has persisted what it received: a client that lost its
// connection and retries must not wait for the old request to time out.
type locks struct {
	mu   sync.Mutex
	held map[string]*holder

	handoffs     atomic.Int64
	handoffNanos atomic.Int64
	handoffTime  *counters.Histogram
}

type holder struct {
	cancel func()
	done   chan struct{}
}

func newLocks() *locks {
	return &locks{held: map[string]*holder{}, handoffTime: counters.NewHistogram(counters.SecondBuckets)}
}

// acquire takes the session's lock, cutting off any holder. cancel is how a later request
// will cut this one off. The returned release must be called exactly once.
func (l *locks) acquire(ctx context.Context, id string, cancel func()) (release func(), err error) {
	var start time.Time
	for {
		l.mu.Lock()
		h := l.held[id]
		if h == nil {
			mine := &holder{cancel: cancel, done: make(chan struct{})}
			l.held[id] = mine
			l.mu.Unlock()
			if !start.IsZero() {
				took := time.Since(start)
				l.handoffs.Add(1)
				l.handoffNanos.Add(int64(took))
				l.handoffTime.Observe(took.Seconds())
			}
			return func() {
				l.mu.Lock()
				delete(l.held, id)
				l.mu.Unlock()
				close(mine.done)
			}, nil
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
			return nil, context.Cause(ctx)
		}
	}
}
