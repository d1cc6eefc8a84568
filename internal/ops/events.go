package ops

import (
	"sync"
	"sync/atomic"
	"time"
)

// Event is one thing the dashboard's live view hears of.
type Event struct {
	// Type: upload_started, upload_progress, upload_committed, upload_failed,
	// download_started, file_removed.
	Type     string    `json:"type"`
	Time     time.Time `json:"time"`
	ID       string    `json:"id,omitempty"` // an upload's id
	Name     string    `json:"name,omitempty"`
	Protocol string    `json:"protocol,omitempty"`
	Client   string    `json:"client,omitempty"`
	Uploader string    `json:"uploader,omitempty"`
	// Offset is where an upload stands, Length its total (-1 unknown), Size a file's size.
	Offset int64   `json:"offset,omitempty"`
	Length int64   `json:"length,omitempty"`
	Size   int64   `json:"size,omitempty"`
	Rate   float64 `json:"rate,omitempty"` // bytes per second, over the last period
	Error  string  `json:"error,omitempty"`
}

// Bus hands events to whoever follows them. Publishing never waits: a follower that does not
// keep up loses events (Dropped counts them), and with no follower it costs an atomic load.
type Bus struct {
	n       atomic.Int32
	mu      sync.Mutex
	subs    map[chan Event]struct{}
	dropped atomic.Int64
	// recent keeps the last events (progress aside) for a page that opens later.
	recentMu   sync.Mutex
	recent     [keepRecent]Event // a ring: next is the oldest once it is full
	next, kept int
}

// keepRecent is how many events Recent returns at most.
const keepRecent = 50

// NewBus makes a bus.
func NewBus() *Bus { return &Bus{subs: map[chan Event]struct{}{}} }

// Following tells whether anyone follows: callers skip building events nobody reads.
func (b *Bus) Following() bool { return b != nil && b.n.Load() > 0 }

// Publish hands e to every follower that has room for it.
func (b *Bus) Publish(e Event) {
	if b == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	if e.Type != "upload_progress" {
		b.recentMu.Lock()
		b.recent[b.next] = e
		b.next = (b.next + 1) % keepRecent
		b.kept = min(b.kept+1, keepRecent)
		b.recentMu.Unlock()
	}
	if !b.Following() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- e:
		default:
			b.dropped.Add(1)
		}
	}
}

// Subscribe follows the bus until cancel is called.
func (b *Bus) Subscribe() (events <-chan Event, cancel func()) {
	ch := make(chan Event, 256)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	b.n.Add(1)
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, ch)
			b.mu.Unlock()
			b.n.Add(-1)
		})
	}
}

// Recent returns the last events but progress, newest first.
func (b *Bus) Recent() []Event {
	if b == nil {
		return nil
	}
	b.recentMu.Lock()
	defer b.recentMu.Unlock()
	out := make([]Event, b.kept)
	for i := range out {
		out[i] = b.recent[(b.next-1-i+keepRecent)%keepRecent]
	}
	return out
}

// Dropped is how many events followers were too slow for.
func (b *Bus) Dropped() int64 { return b.dropped.Load() }
