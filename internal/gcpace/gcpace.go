// Package gcpace keeps the Go garbage collector from running far more often than a server
// with a small live heap needs.
//
// The collector runs when the heap has grown by GOGC percent (100) of what was live after the
// last cycle, and never before 4 MiB. A file server between requests holds little (about
// 2 MiB live here), so under load it collected every 4 MiB of allocation, some 60 times a
// second at 28,000 small downloads a second, each cycle scanning every connection's stack and
// shrinking the idle ones that the next request grows back. Letting a fixed amount of garbage
// (the headroom) build up before a cycle, whatever is live, cuts that to a few cycles a
// second; when more than the headroom is live, GOGC's own rule applies unchanged, so the heap
// never grows past what the default would allow plus the headroom.
//
// It must never raise the collector's target above live + max(live, headroom), and it leaves
// the collector alone when GOGC is set in the environment: the operator chose.
package gcpace

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// heapMinimum is the runtime's smallest heap target at GOGC=100; it scales with GOGC.
const heapMinimum = 4 << 20

// Percent is the GOGC value that lets about headroom bytes of garbage build up before a
// collection, given what the last one found: live heap bytes and the stack and global bytes
// it scans (which GOGC's rule counts as live too). Never below 100, the runtime's default.
func Percent(headroom, live, scanned uint64) int {
	base := live + scanned
	if base == 0 {
		base = 1
	}
	p := headroom * 100 / base
	// The runtime's floor grows with GOGC (4 MiB x GOGC/100): keep it at live + headroom too.
	if floor := (live + headroom) * 100 / heapMinimum; p > floor {
		p = floor
	}
	if p < 100 {
		return 100
	}
	return int(min(p, 1<<30))
}

// Keep adjusts GOGC after every collection so that about headroom bytes of garbage build up
// before the next one. It does nothing when headroom is 0 or GOGC is set in the environment.
// stop restores the GOGC in force before.
func Keep(headroom uint64) (stop func()) {
	if headroom == 0 || os.Getenv("GOGC") != "" {
		return func() {}
	}
	k := &keeper{headroom: headroom, samples: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"},
	}}
	k.previous = debug.SetGCPercent(100)
	k.current = 100
	k.adjust()
	k.arm()
	return k.stop
}

type keeper struct {
	headroom uint64
	samples  []metrics.Sample

	mu       sync.Mutex
	stopped  bool
	previous int
	current  int
}

// arm registers a cleanup on a fresh object: it runs once a collection has found the object
// unreachable, that is after every cycle, and re-arms itself.
func (k *keeper) arm() {
	sentinel := new([16]byte)
	runtime.AddCleanup(sentinel, func(k *keeper) {
		if k.adjust() {
			k.arm()
		}
	}, k)
}

// adjust sets GOGC from the last cycle's figures; false once stopped.
func (k *keeper) adjust() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stopped {
		return false
	}
	metrics.Read(k.samples)
	live := k.samples[0].Value.Uint64()
	scanned := k.samples[1].Value.Uint64() + k.samples[2].Value.Uint64()
	p := Percent(k.headroom, live, scanned)
	// A lower value is always taken (keeping a higher one would let the target pass the
	// bound); a rise within 1/8 of the current value is not worth the heap lock.
	if p < k.current || (p-k.current)*8 > k.current {
		debug.SetGCPercent(p)
		k.current = p
	}
	return true
}

func (k *keeper) stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.stopped {
		k.stopped = true
		debug.SetGCPercent(k.previous)
	}
}
