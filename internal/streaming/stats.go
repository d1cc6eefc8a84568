package streaming

import (
	"context"
	"errors"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"fileserver/internal/counters"
)

// TransferKey labels a group of transfers in Stats.
type TransferKey struct {
	Protocol  string
	Direction Direction
	Result    string // ok, too_large, idle, busy, canceled, error
}

// TransferCount is what Stats keeps per TransferKey.
type TransferCount struct {
	Count   int64
	Bytes   int64
	Seconds float64
}

// Stats are the engine's counters. The metrics package reads them; nothing here knows of
// Prometheus.
type Stats struct {
	inFlight [2]atomic.Int64 // upload, download
	mu       sync.Mutex
	byKey    map[TransferKey]TransferCount
	buffers  map[int]int64   // transfers by the buffer size they ended with
	chunks   map[int64]int64 // chunk recommendations by size, rounded down to a power of two
	resizes  int64
	stalls   int64
	// Durations and Sizes of finished transfers, by protocol and direction.
	Durations, Sizes *counters.HistogramVec
	// TTFB is the time from a download's start to its response header, by protocol.
	TTFB *counters.HistogramVec
}

func newStats() *Stats {
	return &Stats{byKey: map[TransferKey]TransferCount{}, buffers: map[int]int64{}, chunks: map[int64]int64{},
		Durations: counters.NewHistogramVec(counters.SecondBuckets),
		Sizes:     counters.NewHistogramVec(counters.ByteBuckets),
		TTFB:      counters.NewHistogramVec(counters.SecondBuckets)}
}

func dirIndex(d Direction) int {
	if d == Download {
		return 1
	}
	return 0
}

func (s *Stats) begin(t Transfer) { s.inFlight[dirIndex(t.Direction)].Add(1) }

func (s *Stats) end(t Transfer, r Result, err error) {
	s.inFlight[dirIndex(t.Direction)].Add(-1)
	k := TransferKey{Protocol: t.Protocol, Direction: t.Direction, Result: ResultLabel(err)}
	s.mu.Lock()
	c := s.byKey[k]
	c.Count++
	c.Bytes += r.Bytes
	c.Seconds += r.Duration.Seconds()
	s.byKey[k] = c
	if r.BufferSize > 0 {
		s.buffers[r.BufferSize]++
	}
	s.resizes += int64(r.Resizes)
	s.stalls += int64(r.Stalls)
	s.mu.Unlock()
	s.Durations.With(t.Protocol, string(t.Direction)).Observe(r.Duration.Seconds())
	s.Sizes.With(t.Protocol, string(t.Direction)).Observe(float64(r.Bytes))
}

func (s *Stats) chunk(size int64) {
	p := int64(1)
	for p*2 <= size {
		p *= 2
	}
	s.mu.Lock()
	s.chunks[p]++
	s.mu.Unlock()
}

// BufferSizes counts finished transfers by the buffer size they ended with (sendfile
// downloads use none and are not counted).
func (s *Stats) BufferSizes() map[int]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.buffers)
}

// ChunkSizes counts chunk-size recommendations by size rounded down to a power of two.
func (s *Stats) ChunkSizes() map[int64]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.chunks)
}

// Resizes is how often transfers changed buffer size mid-way, in total; Stalls how many
// reads or writes took longer than the stall threshold.
func (s *Stats) Resizes() (resizes, stalls int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resizes, s.stalls
}

// InFlight is the number of transfers running in direction d.
func (s *Stats) InFlight(d Direction) int64 { return s.inFlight[dirIndex(d)].Load() }

// Transfers returns a copy of the per-key counters.
func (s *Stats) Transfers() map[TransferKey]TransferCount {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.byKey)
}

// ResultLabel names the outcome of a transfer for counters and logs.
func ResultLabel(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrTooLarge):
		return "too_large"
	case errors.Is(err, ErrIdle):
		return "idle"
	case errors.Is(err, ErrBusy):
		return "busy"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	}
	return "error"
}

// track wraps a transfer that the engine does not copy itself (a download handed to
// sendfile) so it is counted like the others.
func (e *Engine) track(t Transfer) func(Result, error) Result {
	start := time.Now()
	e.stats.begin(t)
	return func(r Result, err error) Result {
		r.Duration = time.Since(start)
		e.stats.end(t, r, err)
		e.learn(t, r, err)
		return r
	}
}
