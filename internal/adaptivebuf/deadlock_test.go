package adaptivebuf

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
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
			var progress atomic.Int64 // acquisitions done, by all goroutines
			for g := 0; g < 64; g++ {
				wg.Add(1)
				go func(g int) {
					defer wg.Done()
					for i := 0; i < 200; i++ {
						progress.Add(1)
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
			// A deadlock is no progress at all, however long a slow machine takes in all: the
			// watchdog fails only when not one acquisition finished for 10 s.
			last, lastAt := int64(-1), time.Now()
			for finished := false; !finished; {
				select {
				case <-done:
					finished = true
				case <-time.After(10 * time.Millisecond):
					if n := progress.Load(); n != last {
						last, lastAt = n, time.Now()
					} else if time.Since(lastAt) > 10*time.Second {
						buf := make([]byte, 1<<16)
						t.Fatalf("no acquisition finished for 10 s (%d done): deadlock; goroutines:\n%s", n, buf[:runtime.Stack(buf, true)])
					}
				}
			}
			if s := p.Stats(); s.InUse != 0 || s.Waiting != 0 {
				t.Fatalf("end state %+v", s)
			}
		})
	}
}
