package streaming

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// TransferKey labels a group of transfers in Stats.
type TransferKey struct {
	Protocol  string
	Direction Direction
	Result    string // ok, too_large, idle, canceled, error
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
}

func newStats() *Stats { return &Stats{byKey: map[TransferKey]TransferCount{}} }

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
	s.mu.Unlock()
}

// InFlight is the number of transfers running in direction d.
func (s *Stats) InFlight(d Direction) int64 { return s.inFlight[dirIndex(d)].Load() }

// Transfers returns a copy of the per-key counters.
func (s *Stats) Transfers() map[TransferKey]TransferCount {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[TransferKey]TransferCount, len(s.byKey))
	for k, v := range s.byKey {
		out[k] = v
	}
	return out
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
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	}
	return "error"
}

// track wraps a transfer that the engine does not copy itself (a download handed to
// sendfile) so it is counted like the others.
func (e *Engine) track(t Transfer) func(Result, error) {
	start := time.Now()
	e.stats.begin(t)
	return func(r Result, err error) {
		r.Duration = time.Since(start)
		e.stats.end(t, r, err)
	}
}
