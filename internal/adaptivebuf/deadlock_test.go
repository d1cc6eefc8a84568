package adaptivebuf

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestNoDeadlockUnderChurn runs far more borrowers than the budget holds, each holding one
// buffer at a time (as every transfer does), some with short-lived contexts, under every
// policy. All must finish; a lost wake-up or a waiter stuck behind a cancelled head would
// hang here, and the watchdog reports it with the goroutines' stacks.
func TestNoDeadlockUnderChurn(t *testing.T) {
	for _, pol := range []Policy{Downgrade, Wait, Refuse} {
		t.Run(pol.String(), func(t *testing.T) {
			p := New(Options{Budget: 2 * MiB, Policy: pol})
			var wg sync.WaitGroup
			for g := 0; g < 64; g++ {
				wg.Add(1)
				go func(g int) {
					defer wg.Done()
					for i := 0; i < 200; i++ {
						ctx, cancel := context.Background(), func() {}
						if i%5 == g%5 {
							ctx, cancel = context.WithTimeout(ctx, time.Duration(i%3)*time.Microsecond)
						}
						b, err := p.Acquire(ctx, ClassSize((g+i)%NumClasses))
						cancel()
						if err == nil {
							b.B[0] = 1
							p.Release(b)
						}
					}
				}(g)
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			waitFor(t, func() bool {
				select {
				case <-done:
					return true
				default:
					return false
				}
			})
			if s := p.Stats(); s.InUse != 0 || s.Waiting != 0 {
				t.Fatalf("end state %+v", s)
			}
		})
	}
}
