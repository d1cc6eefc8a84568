package streaming

import (
	"sync"
	"sync/atomic"
	"time"
)

// UploadInfo names the upload a transfer feeds, for those who watch uploads in progress (the admin
// API and dashboard). A transfer without one is not listed.
type UploadInfo struct {
	// ID is the upload's id (a resumable session's), Name the file it becomes.
	ID, Name string
	// Offset is where this transfer starts in the upload, Length the upload's total (-1 when
	// unknown).
	Offset, Length int64
	// Uploader is who the upload is charged to.
	Uploader string
}

// Flight is an upload transfer in progress.
type Flight struct {
	UploadInfo
	Protocol, Client string
	Started          time.Time
	bytes, last      atomic.Int64
	ended            atomic.Bool
}

// Ended tells whether the transfer has ended (set before the watcher hears of it).
func (f *Flight) Ended() bool { return f.ended.Load() }

// Bytes is how many bytes this transfer has stored so far.
func (f *Flight) Bytes() int64 { return f.bytes.Load() }

// LastActivity is when the transfer last stored bytes (its start before the first).
func (f *Flight) LastActivity() time.Time { return time.Unix(0, f.last.Load()) }

func (f *Flight) wrote(n int, now time.Time) {
	f.bytes.Add(int64(n))
	f.last.Store(now.UnixNano())
}

// Watcher hears of upload transfers starting and ending (err nil: the body was received
// whole; the commit is the caller's).
type Watcher interface {
	Began(f *Flight)
	Ended(f *Flight, err error)
}

// flights are the engine's upload transfers in progress.
type flights struct {
	mu      sync.Mutex
	set     map[*Flight]struct{}
	watcher atomic.Pointer[Watcher]
}

// Watch makes w hear of every upload transfer that names its upload (Transfer.Upload).
// Call it before serving.
func (e *Engine) Watch(w Watcher) { e.flights.watcher.Store(&w) }

// Flights returns the upload transfers in progress.
func (e *Engine) Flights() []*Flight {
	e.flights.mu.Lock()
	defer e.flights.mu.Unlock()
	out := make([]*Flight, 0, len(e.flights.set))
	for f := range e.flights.set {
		out = append(out, f)
	}
	return out
}

// beginFlight registers t's upload, when it names one; nil otherwise.
func (e *Engine) beginFlight(t Transfer, now time.Time) *Flight {
	if t.Upload == nil || t.Direction != Upload {
		return nil
	}
	f := &Flight{UploadInfo: *t.Upload, Protocol: t.Protocol, Client: t.Client, Started: now}
	f.last.Store(now.UnixNano())
	e.flights.mu.Lock()
	if e.flights.set == nil {
		e.flights.set = map[*Flight]struct{}{}
	}
	e.flights.set[f] = struct{}{}
	e.flights.mu.Unlock()
	if w := e.flights.watcher.Load(); w != nil {
		(*w).Began(f)
	}
	return f
}

func (e *Engine) endFlight(f *Flight, err error) {
	if f == nil {
		return
	}
	f.ended.Store(true)
	e.flights.mu.Lock()
	delete(e.flights.set, f)
	e.flights.mu.Unlock()
	if w := e.flights.watcher.Load(); w != nil {
		(*w).Ended(f, err)
	}
}
