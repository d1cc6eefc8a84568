package streaming

import (
	"slices"
	"sync"
	"time"
)

// Profile is what the engine remembers of one client: exponentially weighted moving
// averages over its recent transfers.
type Profile struct {
	Throughput  float64       // bytes per second, over transfers large enough to measure it
	RTT         time.Duration // smoothed round-trip time reported by the kernel
	Reliability float64       // share of transfers that completed without interruption
	Transfers   int64         // transfers seen
	Stalls      int64         // reads or writes that stalled, in total
	Seen        time.Time     // end of the last transfer
}

// ewmaWeight is the weight of the newest sample in each moving average.
const ewmaWeight = 0.3

type sample struct {
	throughput           float64 // 0: not measured
	rtt                  time.Duration
	completed            bool
	countsForReliability bool // limits and refusals say nothing of the network
	stalls               int
}

// profiles keeps Profiles by client key with bounded memory: entries expire ttl after they
// were last seen, and the map never holds more than max entries (the least recently seen
// eighth goes when it is full).
type profiles struct {
	ttl       time.Duration
	max       int
	mu        sync.Mutex
	m         map[string]*Profile
	lastSweep time.Time
	now       func() time.Time
}

func newProfiles(ttl time.Duration, max int) *profiles {
	return &profiles{ttl: ttl, max: max, m: map[string]*Profile{}, now: time.Now}
}

func (ps *profiles) get(key string) (Profile, bool) {
	if key == "" {
		return Profile{}, false
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p, ok := ps.m[key]
	if !ok || ps.now().Sub(p.Seen) > ps.ttl {
		return Profile{}, false
	}
	return *p, true
}

func (ps *profiles) update(key string, s sample) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	now := ps.now()
	p, ok := ps.m[key]
	if ok && now.Sub(p.Seen) > ps.ttl {
		ok = false
	}
	if !ok {
		ps.makeRoom(now)
		p = &Profile{Reliability: 1}
		ps.m[key] = p
	}
	ewma := func(old, v float64) float64 {
		if old == 0 {
			return v
		}
		return old + ewmaWeight*(v-old)
	}
	if s.throughput > 0 {
		p.Throughput = ewma(p.Throughput, s.throughput)
	}
	if s.rtt > 0 {
		p.RTT = time.Duration(ewma(float64(p.RTT), float64(s.rtt)))
	}
	if s.countsForReliability {
		v := 0.0
		if s.completed {
			v = 1
		}
		p.Reliability += ewmaWeight * (v - p.Reliability)
	}
	p.Transfers++
	p.Stalls += int64(s.stalls)
	p.Seen = now
}

// makeRoom drops expired entries (at most every ttl/4, or when full) and, if the map is
// still full, the least recently seen eighth of it.
func (ps *profiles) makeRoom(now time.Time) {
	if len(ps.m) < ps.max && now.Sub(ps.lastSweep) < ps.ttl/4 {
		return
	}
	ps.lastSweep = now
	for k, p := range ps.m {
		if now.Sub(p.Seen) > ps.ttl {
			delete(ps.m, k)
		}
	}
	if len(ps.m) < ps.max {
		return
	}
	seen := make([]time.Time, 0, len(ps.m))
	for _, p := range ps.m {
		seen = append(seen, p.Seen)
	}
	slices.SortFunc(seen, time.Time.Compare)
	cut := seen[len(seen)/8]
	for k, p := range ps.m {
		if !p.Seen.After(cut) {
			delete(ps.m, k)
		}
	}
}

func (ps *profiles) len() int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return len(ps.m)
}

// all returns a copy of every remembered profile, for distributions across clients.
func (t *profiles) all() []Profile {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Profile, 0, len(t.m))
	for _, p := range t.m {
		out = append(out, *p)
	}
	return out
}

// AllProfiles returns a copy of every client profile the engine remembers (no client keys:
// the metrics adapter turns them into distributions without per-client labels).
func (e *Engine) AllProfiles() []Profile { return e.profiles.all() }
