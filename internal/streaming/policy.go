package streaming

import (
	"context"
	"errors"
	"time"

	"fileserver/internal/adaptivebuf"
)

// The buffer policy. A read returns what the socket holds, up to the buffer: the buffer only
// has to hold what arrives between two reads. That is at least the bandwidth-delay product
// (so one read can take a window's worth), and at least what arrives in readQuantum at the
// measured rate (so a fast sender is not taken in slivers, which costs a syscall each).
// On loopback the second term dominates: 1.5 GB/s x 1 ms = 1.5 MB, clamped to max_buffer.
// A 3G phone at 100 kB/s with a 200 ms RTT gets 20 kB -> 32 KiB.
const (
	readQuantum = time.Millisecond
	// resizeEvery is how often a transfer's rate is re-measured to resize its buffer.
	resizeEvery = 50 * time.Millisecond
	// minSample is how much a transfer must move for its throughput to count in the
	// profile: below it, a transfer measures latency, not bandwidth.
	minSample = 256 << 10
)

// target is the buffer size the policy wants at rate bytes/s and round-trip time rtt.
func target(rate float64, rtt time.Duration) int {
	bdp := rate * rtt.Seconds()
	q := rate * readQuantum.Seconds()
	return int(min(max(bdp, q), 1<<30))
}

// initialSize is the buffer a new transfer asks for: from the client's profile when adaptive
// and known, else the configured size; never more than the body can need.
func (e *Engine) initialSize(t Transfer, rtt time.Duration) int {
	size := e.opts.BufferSize
	if e.opts.Adaptive {
		if p, ok := e.profiles.get(t.Client); ok && p.Throughput > 0 {
			if rtt <= 0 {
				rtt = p.RTT
			}
			size = target(p.Throughput, rtt)
		}
	}
	if t.Limit > 0 && t.Limit < int64(size) {
		size = int(t.Limit) + 1
	}
	return size
}

// sizer watches a transfer's reads and resizes its buffer when the measured rate asks for
// another size class: larger only when the pool has room now (never waiting), smaller
// whenever the rate drops well below what the buffer is for, which gives memory back to
// waiting transfers.
type sizer struct {
	e          *Engine
	rtt        time.Duration
	adaptive   bool
	last       time.Time // end of the previous read
	winStart   time.Time
	winBytes   int
	reads      int
	fullReads  int
	resizes    int
	stalls     int
	stallLimit time.Duration
}

func newSizer(e *Engine, t Transfer, rtt time.Duration, start time.Time) *sizer {
	return &sizer{e: e, rtt: rtt, adaptive: e.opts.Adaptive,
		last: start, winStart: start, stallLimit: e.opts.StallThreshold}
}

// after accounts one read of n bytes into a buffer of room bytes and returns the buffer to
// use next.
func (s *sizer) after(buf *adaptivebuf.Buffer, n, room int) *adaptivebuf.Buffer {
	now := s.e.now()
	if now.Sub(s.last) > s.stallLimit {
		s.stalls++
	}
	s.last = now
	s.winBytes += n
	s.reads++
	if n == room {
		s.fullReads++
	}
	if !s.adaptive || now.Sub(s.winStart) < s.e.resizeEvery || room < len(buf.B) {
		return buf
	}
	win := max(now.Sub(s.winStart), time.Microsecond)
	rate := float64(s.winBytes) / win.Seconds()
	want := target(rate, s.rtt)
	cur := len(buf.B)
	if s.fullReads*2 > s.reads && win < time.Duration(s.reads)*readQuantum && want <= cur {
		// Most reads filled the buffer, and they come more often than once per quantum: data
		// waits in the socket and the buffer is what limits the rate we measured. Grow.
		// (Full reads at a few per quantum or less cost nothing worth the memory.)
		want = cur * 2
	}
	s.winStart, s.winBytes, s.reads, s.fullReads = now, 0, 0, 0
	next := s.e.pool.RoundSize(want)
	switch {
	case next > cur:
	case next*4 <= cur:
		next *= 2 // shrink, keeping one class of headroom against a noisy window
	default:
		return buf
	}
	nb := s.e.pool.Resize(buf, next)
	if nb != buf {
		s.resizes++
	}
	return nb
}

// learn folds a finished transfer into its client's profile.
func (e *Engine) learn(t Transfer, r Result, err error) {
	if t.Client == "" {
		return
	}
	var tput float64
	if r.Bytes >= minSample && r.Duration > 0 {
		tput = float64(r.Bytes) / r.Duration.Seconds()
	}
	completed := err == nil
	counts := err == nil || !(errors.Is(err, ErrTooLarge) || errors.Is(err, ErrBusy))
	e.profiles.update(t.Client, sample{
		throughput: tput, rtt: r.RTT, completed: completed, countsForReliability: counts, stalls: r.Stalls,
	})
}

// ChunkSize is the chunk size to recommend to a resumable client with this key (tus
// creation responses, the IETF draft's Upload-Limit): the configured target duration at
// the client's measured throughput, shrunk by the square of its reliability (a client that
// completes half its transfers gets a quarter), within [MinChunk, MaxChunk] and rounded
// down to 64 KiB. An unknown client gets 8 MiB within the bounds; policy fixed, MaxChunk.
func (e *Engine) ChunkSize(client string) int64 {
	o := e.opts
	size := int64(8 << 20)
	if o.ChunkPolicy == ChunkFixed {
		size = o.MaxChunk
	} else if p, ok := e.profiles.get(client); ok {
		if p.Throughput > 0 {
			size = int64(p.Throughput * o.ChunkTarget.Seconds())
		}
		size = int64(float64(size) * p.Reliability * p.Reliability)
	}
	size = min(max(size, o.MinChunk), o.MaxChunk)
	if r := size &^ (64<<10 - 1); r >= o.MinChunk {
		size = r
	}
	e.stats.chunk(size)
	return size
}

// Profile returns what the engine has measured of a client, if it remembers it.
func (e *Engine) Profile(client string) (Profile, bool) { return e.profiles.get(client) }

// rttOf reads the smoothed RTT of the request's connection (stashed by ConnContext) from
// the kernel, when the platform offers it.
func rttOf(ctx context.Context) (time.Duration, bool) {
	c := connFrom(ctx)
	if c == nil {
		return 0, false
	}
	return connRTT(c)
}

// Profiles is how many client profiles the engine remembers now.
func (e *Engine) Profiles() int { return e.profiles.len() }
