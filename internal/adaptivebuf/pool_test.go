package adaptivebuf

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

const (
	KiB = 1 << 10
	MiB = 1 << 20
)

func TestClassRounding(t *testing.T) {
	p := New(Options{Budget: 64 * MiB, Min: 32 * KiB, Max: 1 * MiB})
	for _, tc := range []struct{ want, got int }{
		{0, 32 * KiB}, {1, 32 * KiB}, {16 * KiB, 32 * KiB}, {32 * KiB, 32 * KiB},
		{32*KiB + 1, 64 * KiB}, {200 * KiB, 256 * KiB}, {1 * MiB, 1 * MiB}, {3 * MiB, 1 * MiB},
		{1 << 40, 1 * MiB},
	} {
		if got := p.RoundSize(tc.want); got != tc.got {
			t.Errorf("RoundSize(%d) = %d, want %d", tc.want, got, tc.got)
		}
	}
	for c := 0; c < NumClasses; c++ {
		if classOf(ClassSize(c)) != c || (c > 0 && classOf(ClassSize(c)-1) != c) || classOf(ClassSize(c)+1) != min(c+1, NumClasses-1) {
			t.Errorf("class %d does not round trip", c)
		}
	}
}

// The largest class is lowered to what the budget holds, so a lone request always fits.
func TestBoundsFollowBudget(t *testing.T) {
	for _, tc := range []struct {
		budget           int64
		min, max         int
		wantMin, wantMax int
	}{
		{64 * MiB, 16 * KiB, 4 * MiB, 16 * KiB, 4 * MiB},
		{3 * MiB, 16 * KiB, 4 * MiB, 16 * KiB, 2 * MiB},
		{100 * KiB, 128 * KiB, 4 * MiB, 64 * KiB, 64 * KiB},
		{1, 16 * KiB, 16 * KiB, 16 * KiB, 16 * KiB},
		{64 * MiB, 0, 0, 16 * KiB, 4 * MiB},
	} {
		p := New(Options{Budget: tc.budget, Min: tc.min, Max: tc.max})
		if p.MinSize() != tc.wantMin || p.MaxSize() != tc.wantMax {
			t.Errorf("budget %d [%d,%d]: bounds [%d,%d], want [%d,%d]", tc.budget, tc.min, tc.max,
				p.MinSize(), p.MaxSize(), tc.wantMin, tc.wantMax)
		}
		b, err := p.Acquire(context.Background(), 1<<30)
		if err != nil || len(b.B) != tc.wantMax {
			t.Errorf("budget %d: lone Acquire got %v, %v", tc.budget, b, err)
		}
	}
}

func TestAcquireAccountsAndReuses(t *testing.T) {
	p := New(Options{Budget: 4 * MiB})
	ctx := context.Background()
	a, _ := p.Acquire(ctx, 1*MiB)
	b, _ := p.Acquire(ctx, 100*KiB)
	if len(a.B) != 1*MiB || len(b.B) != 128*KiB || &a.B[0] == &b.B[0] {
		t.Fatalf("sizes %d, %d", len(a.B), len(b.B))
	}
	if s := p.Stats(); s.InUse != 1*MiB+128*KiB || s.Held != s.InUse {
		t.Fatalf("stats %+v", s)
	}
	first := &a.B[0]
	p.Release(a)
	p.Release(b)
	if s := p.Stats(); s.InUse != 0 || s.Held != 1*MiB+128*KiB {
		t.Fatalf("after release: %+v", s)
	}
	c, _ := p.Acquire(ctx, 1*MiB)
	if &c.B[0] != first {
		t.Error("a kept buffer of the same class was not reused")
	}
	// A class that needs room drops kept buffers rather than going over budget.
	d, _ := p.Acquire(ctx, 3*MiB) // rounds to 4 MiB: does not fit beside c
	_ = d
	p.Release(c)
	if s := p.Stats(); s.Held > s.Budget {
		t.Fatalf("held %d over budget %d", s.Held, s.Budget)
	}
}

func TestPolicies(t *testing.T) {
	for _, tc := range []struct {
		policy  Policy
		size    int   // what the second Acquire gets; 0 = none
		err     error // and its error
		waiting bool  // whether it queues
	}{
		{Downgrade, 512 * KiB, nil, false},
		{Refuse, 512 * KiB, nil, false},
		{Wait, 0, context.Canceled, true},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			p := New(Options{Budget: 1536 * KiB, Policy: tc.policy})
			first, _ := p.Acquire(context.Background(), 1*MiB)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			var got *Buffer
			var err error
			go func() { got, err = p.Acquire(ctx, 1*MiB); close(done) }()
			if tc.waiting {
				waitFor(t, func() bool { return p.Stats().Waiting == 1 })
				cancel()
			}
			<-done
			cancel()
			if !errors.Is(err, tc.err) || (tc.size == 0) != (got == nil) || (got != nil && len(got.B) != tc.size) {
				t.Fatalf("got %v, %v; want size %d, err %v", got, err, tc.size, tc.err)
			}
			p.Release(got)
			p.Release(first)
			if s := p.Stats(); s.InUse != 0 || s.Waiting != 0 {
				t.Fatalf("leak: %+v", s)
			}
		})
	}
}

func TestRefuseWhenNothingFits(t *testing.T) {
	p := New(Options{Budget: 1 * MiB, Policy: Refuse})
	a, _ := p.Acquire(context.Background(), 1*MiB)
	if _, err := p.Acquire(context.Background(), 16*KiB); !errors.Is(err, ErrBudget) {
		t.Fatalf("err %v, want ErrBudget", err)
	}
	p.Release(a)
	if s := p.Stats(); s.Refusals != 1 || s.Waits != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestMaxWaitEndsWithErrBudget(t *testing.T) {
	p := New(Options{Budget: 1 * MiB, Policy: Wait, MaxWait: time.Millisecond})
	a, _ := p.Acquire(context.Background(), 1*MiB)
	defer p.Release(a)
	if _, err := p.Acquire(context.Background(), 16*KiB); !errors.Is(err, ErrBudget) {
		t.Fatalf("err %v, want ErrBudget", err)
	}
	if s := p.Stats(); s.Waiting != 0 || s.Cancels != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// Waiters are served in arrival order, one per release that can serve them.
func TestWaitersServedFIFO(t *testing.T) {
	p := New(Options{Budget: 1 * MiB, Min: 256 * KiB, Policy: Downgrade})
	var held []*Buffer
	for i := 0; i < 4; i++ {
		b, _ := p.Acquire(context.Background(), 256*KiB)
		held = append(held, b)
	}
	served := make(chan int, 8)
	bufs := make(chan *Buffer, 8)
	for i := 0; i < 8; i++ {
		go func() {
			b, err := p.Acquire(context.Background(), 1*MiB)
			if err != nil {
				t.Error(err)
			}
			bufs <- b
			served <- i
		}()
		waitFor(t, func() bool { return p.Stats().Waiting == i+1 })
	}
	for i := 0; i < 8; i++ {
		if i < 4 {
			p.Release(held[i])
		} else {
			p.Release(<-bufs)
		}
		if got := <-served; got != i {
			t.Fatalf("release %d served waiter %d", i, got)
		}
		if w := p.Stats().Waiting; w != 8-i-1 {
			t.Fatalf("release %d woke %d waiters", i, 8-i-w)
		}
	}
	for i := 0; i < 4; i++ {
		p.Release(<-bufs)
	}
	if s := p.Stats(); s.InUse != 0 || s.Downgrades != 8 {
		t.Fatalf("stats %+v", s)
	}
}

// With the Wait policy a large waiter at the head that gives up must let the smaller ones
// behind it in, or they would wait for a release that never comes.
func TestCancelledHeadUnblocksQueue(t *testing.T) {
	p := New(Options{Budget: 1 * MiB, Policy: Wait})
	a, _ := p.Acquire(context.Background(), 512*KiB)
	ctx, cancel := context.WithCancel(context.Background())
	headErr := make(chan error, 1)
	go func() { _, err := p.Acquire(ctx, 1*MiB); headErr <- err }()
	waitFor(t, func() bool { return p.Stats().Waiting == 1 })
	small := make(chan *Buffer, 1)
	go func() { b, _ := p.Acquire(context.Background(), 256*KiB); small <- b }()
	waitFor(t, func() bool { return p.Stats().Waiting == 2 })
	cancel()
	if err := <-headErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("head: %v", err)
	}
	p.Release(<-small)
	p.Release(a)
	if s := p.Stats(); s.InUse != 0 || s.Waiting != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestTryAcquireNeverJumpsTheQueue(t *testing.T) {
	p := New(Options{Budget: 1 * MiB, Policy: Wait})
	a, _ := p.Acquire(context.Background(), 512*KiB)
	if b := p.TryAcquire(1 * MiB); b != nil {
		t.Fatal("TryAcquire went over budget")
	}
	go func() { b, _ := p.Acquire(context.Background(), 1*MiB); p.Release(b) }()
	waitFor(t, func() bool { return p.Stats().Waiting == 1 })
	if b := p.TryAcquire(16 * KiB); b != nil {
		t.Fatal("TryAcquire served before a queued waiter")
	}
	p.Release(a)
	waitFor(t, func() bool { return p.Stats().InUse == 0 })
}

// Many holders with random sizes, cancellations and all three policies: the pool never
// accounts more than its budget, the buffers lent never add up to more, and everyone ends.
func TestConcurrentNeverOverBudget(t *testing.T) {
	for _, pol := range []Policy{Downgrade, Wait, Refuse} {
		t.Run(pol.String(), func(t *testing.T) {
			const budget = 3 * MiB
			p := New(Options{Budget: budget, Policy: pol})
			var mu sync.Mutex
			var lent int64
			var wg sync.WaitGroup
			for g := 0; g < 16; g++ {
				wg.Add(1)
				go func(g int) {
					defer wg.Done()
					for i := 0; i < 300; i++ {
						ctx, cancel := context.WithCancel(context.Background())
						if (g+i)%7 == 0 {
							cancel() // some give up before or while waiting
						}
						b, err := p.Acquire(ctx, ClassSize((g*31+i)%NumClasses))
						cancel()
						if err != nil {
							continue
						}
						mu.Lock()
						lent += int64(len(b.B))
						over := lent > budget
						mu.Unlock()
						if over {
							t.Error("lent buffers add up to more than the budget")
						}
						b.B[0], b.B[len(b.B)-1] = byte(g), byte(g)
						if i%3 == 0 {
							runtime.Gosched()
						}
						if b.B[0] != byte(g) || b.B[len(b.B)-1] != byte(g) {
							t.Error("buffer shared by two holders")
						}
						mu.Lock()
						lent -= int64(len(b.B))
						mu.Unlock()
						p.Release(b)
						if s := p.Stats(); s.Held > s.Budget {
							t.Errorf("held %d over budget", s.Held)
						}
					}
				}(g)
			}
			wg.Wait()
			if s := p.Stats(); s.InUse != 0 || s.Waiting != 0 || s.Held > budget {
				t.Fatalf("end state %+v", s)
			}
		})
	}
}

// waitFor polls cond: the goroutines under test reach their state in their own time, and
// the test asserts states, never durations.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("condition never held; goroutines:\n%s", buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func ExamplePool() {
	p := New(Options{Budget: 64 << 20, Min: 16 << 10, Max: 1 << 20, Policy: Downgrade})
	b, err := p.Acquire(context.Background(), 300<<10)
	if err != nil {
		return
	}
	defer p.Release(b)
	fmt.Println(len(b.B))
	// Output: 524288
}

func TestResize(t *testing.T) {
	p := New(Options{Budget: 2 * MiB, Policy: Wait})
	ctx := context.Background()
	a, _ := p.Acquire(ctx, 1*MiB)
	b, _ := p.Acquire(ctx, 512*KiB)
	if g := p.Resize(b, 2*MiB); g != b {
		t.Fatal("grew past the budget")
	}
	// A waiter for 1 MiB queues; shrinking a to 256 KiB must serve it at once.
	got := make(chan *Buffer)
	go func() { w, _ := p.Acquire(ctx, 1*MiB); got <- w }()
	waitFor(t, func() bool { return p.Stats().Waiting == 1 })
	if g := p.Resize(b, 1*MiB); g != b {
		t.Fatal("grew while someone waits")
	}
	a = p.Resize(a, 200*KiB)
	if len(a.B) != 256*KiB {
		t.Fatalf("shrunk to %d", len(a.B))
	}
	w := <-got
	if len(w.B) != 1*MiB {
		t.Fatalf("waiter got %d", len(w.B))
	}
	p.Release(w)
	if b = p.Resize(b, 1*MiB); len(b.B) != 1*MiB {
		t.Fatalf("did not grow into free room: %d", len(b.B))
	}
	p.Release(a)
	p.Release(b)
	if s := p.Stats(); s.InUse != 0 || s.Held > s.Budget || s.Resizes != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestTryReserve(t *testing.T) {
	p := New(Options{Budget: 4 * MiB, Policy: Downgrade})
	buf, _ := p.Acquire(context.Background(), 1*MiB)
	r, err := p.TryReserve(3 * MiB)
	if err != nil || r == nil || p.InUse() != 4*MiB {
		t.Fatalf("TryReserve: %v, %v, in use %d", r, err, p.InUse())
	}
	if _, err := p.TryReserve(5 * MiB); !errors.Is(err, ErrBudget) {
		t.Fatalf("reservation above the budget: %v", err)
	}
	// Nothing fits: no reservation, no wait, and no downgrade.
	if r2, err := p.TryReserve(2 * MiB); r2 != nil || err != nil {
		t.Fatalf("TryReserve with the budget lent: %v, %v", r2, err)
	}
	// Nor does it jump the queue of those waiting for buffers.
	got := make(chan *Buffer)
	go func() {
		b, _ := p.Acquire(context.Background(), 2*MiB)
		got <- b
	}()
	waitFor(t, func() bool { return p.Stats().Waiting == 1 })
	p.Release(r)
	b := <-got
	if r2, _ := p.TryReserve(2 * MiB); r2 != nil {
		t.Fatal("a reservation took what a waiter was served")
	}
	p.Release(buf)
	r2, err := p.TryReserve(2 * MiB)
	if r2 == nil || err != nil {
		t.Fatalf("TryReserve with 2 MiB free: %v, %v", r2, err)
	}
	p.Release(r2)
	p.Release(b)
	if s := p.Stats(); s.InUse != 0 || s.Held > s.Budget {
		t.Fatalf("after releases: %+v", s)
	}
}
