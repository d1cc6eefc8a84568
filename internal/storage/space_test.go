package storage

import (
	"errors"
	"sync"
	"testing"
)

// The floor's accounting: what writers were promised counts until written or given back,
// and a claim that would cross the floor is refused without taking anything.
func TestFloorAccounting(t *testing.T) {
	free := int64(10 * slab)
	f := &floor{minFree: 4 * slab, free: func() (int64, error) { return free, nil }}
	a := claimed{f: f}
	if _, err := a.reserve(nil, 0, 5*slab, false); err != nil {
		t.Fatal(err)
	}
	if room, _ := f.room(); room != slab {
		t.Fatalf("room %d after promising 5 slabs of 6, want 1 slab", room)
	}
	b := claimed{f: f}
	if err := b.ensure(0, 2*slab); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("a write past the floor: %v, want ErrNoSpace", err)
	}
	if err := b.ensure(0, 100); err != nil { // one slab fits
		t.Fatal(err)
	}
	// a writes 3 slabs: the disk has 3 fewer, and it is promised 3 fewer.
	free -= 3 * slab
	a.wrote(3 * slab)
	if room, _ := f.room(); room != 0 {
		t.Fatalf("room %d, want 0", room)
	}
	a.release()
	b.release()
	if room, _ := f.room(); room != 3*slab || f.promised.Load() != 0 {
		t.Fatalf("after release: room %d, promised %d", room, f.promised.Load())
	}
	// No floor: nothing is counted or refused.
	off := &floor{free: func() (int64, error) { return 0, nil }}
	c := claimed{f: off}
	if err := c.ensure(0, 1<<40); err != nil || off.promised.Load() != 0 {
		t.Fatalf("without a floor: %v, promised %d", err, off.promised.Load())
	}
}

// Claims racing for the last room: exactly as many succeed as fit.
func TestFloorConcurrentClaims(t *testing.T) {
	f := &floor{minFree: slab, free: func() (int64, error) { return 11 * slab, nil }}
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := 0
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := claimed{f: f}
			if c.ensure(0, slab) == nil {
				mu.Lock()
				granted++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if granted != 10 {
		t.Fatalf("%d of 40 one-slab claims granted with 10 slabs of room", granted)
	}
}
