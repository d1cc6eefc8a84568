package gcpace

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

const MiB = 1 << 20

func TestPercent(t *testing.T) {
	for _, c := range []struct {
		headroom, live, scanned uint64
		want                    int
	}{
		// Little live: the runtime's floor (4 MiB x GOGC/100) bounds it to live + headroom.
		{16 * MiB, 2 * MiB, MiB / 2, 450},
		// More live: headroom / (live + scanned).
		{16 * MiB, 7 * MiB, MiB, 200},
		// As much live as the headroom or more: the default rule.
		{16 * MiB, 16 * MiB, 0, 100},
		{16 * MiB, 1024 * MiB, 0, 100},
		// Nothing measured yet.
		{16 * MiB, 0, 0, 400},
	} {
		if got := Percent(c.headroom, c.live, c.scanned); got != c.want {
			t.Errorf("Percent(%d, %d, %d) = %d, want %d", c.headroom, c.live, c.scanned, got, c.want)
		}
	}
}

// The heap target the runtime works to must stay within live + max(live, headroom), which is
// the whole promise: check it for every case from the runtime's own rule.
func TestPercentTargetBound(t *testing.T) {
	const headroom = 16 * MiB
	for live := uint64(0); live <= 64*MiB; live += MiB / 4 {
		for _, scanned := range []uint64{0, MiB / 4, 2 * MiB} {
			p := uint64(Percent(headroom, live, scanned))
			goal := max(live+(live+scanned)*p/100, heapMinimum*p/100)
			if bound := live + max(live+scanned, headroom); goal > bound+MiB/64 {
				t.Fatalf("live %d scanned %d: GOGC %d sets a target of %d, above %d", live, scanned, p, goal, bound)
			}
		}
	}
}

// ballast is live heap the test adds and drops (a package variable, so that dropping it is
// not optimised away).
var ballast []*[MiB]byte

func read(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// waitGOGC collects until the keeper, which runs after a cycle, has moved GOGC to what ok
// accepts.
func waitGOGC(t *testing.T, ok func(uint64) bool) uint64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		p := read("/gc/gogc:percent")
		if ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("GOGC stayed at %d (live %d, stacks %d, globals %d, goal %d)", p, read("/gc/heap/live:bytes"), read("/gc/scan/stack:bytes"), read("/gc/scan/globals:bytes"), read("/gc/heap/goal:bytes"))
		}
	}
}

func TestKeepFollowsTheLiveHeap(t *testing.T) {
	t.Setenv("GOGC", "")
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)

	stop := Keep(64 * MiB)
	t.Cleanup(stop)
	waitGOGC(t, func(p uint64) bool { return p > 100 })
	if goal, live := read("/gc/heap/goal:bytes"), read("/gc/heap/live:bytes"); goal < live+48*MiB || goal > live+80*MiB {
		t.Errorf("with %d live the collector aims at %d: want about live + 64 MiB", live, goal)
	}

	// Once more than the headroom is live, the default rule is back.
	ballast = make([]*[MiB]byte, 128)
	for i := range ballast {
		ballast[i] = new([MiB]byte)
	}
	waitGOGC(t, func(p uint64) bool { return p == 100 })
	ballast = nil
	waitGOGC(t, func(p uint64) bool { return p > 100 })

	stop()
	if p := read("/gc/gogc:percent"); p != 100 {
		t.Errorf("after stop GOGC = %d, want the 100 in force before", p)
	}
	// Stopped: collections no longer move it.
	debug.SetGCPercent(100)
	for range 3 {
		runtime.GC()
	}
	time.Sleep(50 * time.Millisecond)
	if p := read("/gc/gogc:percent"); p != 100 {
		t.Errorf("a stopped keeper moved GOGC to %d", p)
	}
}

func TestKeepLeavesAnOperatorsGOGC(t *testing.T) {
	t.Setenv("GOGC", "200")
	before := debug.SetGCPercent(200)
	defer debug.SetGCPercent(before)
	stop := Keep(64 * MiB)
	defer stop()
	for range 3 {
		runtime.GC()
	}
	time.Sleep(50 * time.Millisecond)
	if p := read("/gc/gogc:percent"); p != 200 {
		t.Errorf("GOGC=200 in the environment, the keeper set %d", p)
	}
}

// held is live heap the hysteresis test grows in small steps.
var held []*[64 << 10]byte

// When the live heap grows a little, the lower GOGC it calls for is taken at once: keeping
// the higher one would let the target pass live + max(live, headroom).
func TestAdjustKeepsTheBoundAsLiveGrows(t *testing.T) {
	t.Setenv("GOGC", "")
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	const headroom = 16 * MiB
	k := &keeper{headroom: headroom, current: 100, samples: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"},
	}}
	for _, units := range []int{96, 100, 104, 108} { // 6 MiB, then a little more each time
		held = held[:0]
		for range units {
			held = append(held, new([64 << 10]byte))
		}
		runtime.GC()
		k.adjust()
		live, scanned := read("/gc/heap/live:bytes"), read("/gc/scan/stack:bytes")+read("/gc/scan/globals:bytes")
		if goal, bound := read("/gc/heap/goal:bytes"), live+max(live+scanned, headroom); goal > bound+MiB/64 {
			t.Errorf("live %d: GOGC %d aims at %d, above %d", live, k.current, goal, bound)
		}
	}
	held = nil
}
