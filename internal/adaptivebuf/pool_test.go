package adaptivebuf

import (
	"sync"
	"testing"
)

func TestPoolAccountsLentBytes(t *testing.T) {
	p := NewPool(4096)
	a, b := p.Acquire(), p.Acquire()
	if len(a.B) != 4096 || len(b.B) != 4096 {
		t.Fatalf("buffer sizes %d, %d, want 4096", len(a.B), len(b.B))
	}
	if &a.B[0] == &b.B[0] {
		t.Fatal("two holders share one buffer")
	}
	if got := p.InUse(); got != 8192 {
		t.Fatalf("InUse = %d, want 8192", got)
	}
	p.Release(a)
	p.Release(b)
	if got := p.InUse(); got != 0 {
		t.Fatalf("InUse after release = %d, want 0", got)
	}
}

func TestPoolConcurrentUseNeverShares(t *testing.T) {
	p := NewPool(64)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(id byte) {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				buf := p.Acquire()
				for j := range buf.B {
					buf.B[j] = id
				}
				for j := range buf.B {
					if buf.B[j] != id {
						t.Errorf("buffer written by another holder")
						return
					}
				}
				p.Release(buf)
			}
		}(byte(g))
	}
	wg.Wait()
	if p.InUse() != 0 {
		t.Fatalf("InUse = %d after all released", p.InUse())
	}
}
