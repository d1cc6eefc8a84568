package redisstore

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"fileserver/internal/chunking"
	"fileserver/internal/chunking/lockertest"
	"fileserver/internal/testpeers"
)

// waitFor fails the test if c is not closed within a generous bound (a hang, not a timing
// requirement).
func waitFor(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// Many requests on two nodes contend for one session: never two holders at once, and every
// lease's fence is larger than the one before.
func TestLockExclusiveAcrossNodes(t *testing.T) {
	url := testpeers.Redis(t)
	nodes := []*Store{openStore(t, url, Options{}), openStore(t, url, Options{})}
	ctx := context.Background()
	var inside, cancels atomic.Int32
	var lastFence atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		node := nodes[g%2]
		// Half the requests can be cut off (they only count it), half are waited for.
		var cancel func()
		if g%4 < 2 {
			cancel = func() { cancels.Add(1) }
		}
		wg.Go(func() {
			for range 25 {
				l, err := node.Lock(ctx, "contended", chunking.Claim{Cancel: cancel})
				if err != nil {
					t.Error(err)
					return
				}
				if n := inside.Add(1); n != 1 {
					t.Errorf("%d holders at once", n)
				}
				if prev := lastFence.Swap(l.Fence); l.Fence <= prev {
					t.Errorf("fence %d after %d", l.Fence, prev)
				}
				time.Sleep(200 * time.Microsecond)
				inside.Add(-1)
				l.Release()
			}
		})
	}
	wg.Wait()
	t.Logf("%d cancels delivered to holders", cancels.Load())
}

// A request on node B takes a session over from a live request on node A: A is asked to stop
// (its cancel runs), stops and releases, and B holds the lock with a larger fence.
func TestHandOffAcrossNodes(t *testing.T) {
	url := testpeers.Redis(t)
	a, b := openStore(t, url, Options{}), openStore(t, url, Options{})
	ctx := context.Background()
	var took []time.Duration
	for range 20 {
		cut := make(chan struct{})
		var once sync.Once
		la, err := a.Lock(ctx, "handoff", chunking.Claim{Cancel: func() { once.Do(func() { close(cut) }) }})
		if err != nil {
			t.Fatal(err)
		}
		// A's request: it stops when cut off, and then gives the lock up.
		go func() {
			<-cut
			la.Release()
		}()
		start := time.Now()
		lb, err := b.Lock(ctx, "handoff", chunking.Claim{})
		if err != nil {
			t.Fatal(err)
		}
		took = append(took, time.Since(start))
		waitFor(t, cut, "A's cancel")
		if lb.Waited <= 0 || lb.Fence <= la.Fence {
			t.Fatalf("B's lease: waited %v, fence %d after A's %d", lb.Waited, lb.Fence, la.Fence)
		}
		lb.Release()
	}
	slices.Sort(took)
	t.Logf("cross-node hand-off over %d rounds: median %v, max %v", len(took), took[len(took)/2], took[len(took)-1])
}

// A node that dies holding a lock (its Store closed: no renewal, no release, no answer to
// cancel) frees it when its lease runs out, and its fence is refused from then on.
func TestLeaseExpiryAfterCrash(t *testing.T) {
	url := testpeers.Redis(t)
	const lease = 500 * time.Millisecond
	a, b := openStore(t, url, Options{Lease: lease}), openStore(t, url, Options{Lease: lease})
	ctx := context.Background()
	sess := sampleSession("crashed")
	if err := b.Put(ctx, sess, 0); err != nil {
		t.Fatal(err)
	}
	la, err := a.Lock(ctx, sess.ID, chunking.Claim{Cancel: func() {}})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	lb, err := b.Lock(lctx, sess.ID, chunking.Claim{})
	if err != nil {
		t.Fatalf("lock after the holder died: %v", err)
	}
	defer lb.Release()
	t.Logf("took over a dead node's lock after %v (lease %v)", lb.Waited, lease)
	stale := *sess
	stale.Offset = 99
	if err := b.Put(ctx, &stale, la.Fence); !errors.Is(err, chunking.ErrFenced) {
		t.Fatalf("Put under the dead node's fence: %v, want ErrFenced", err)
	}
	if got, _ := b.Get(ctx, sess.ID); got.Offset != sess.Offset {
		t.Fatalf("offset %d after a fenced write, want %d", got.Offset, sess.Offset)
	}
	la.Release() // after Close: must neither panic nor touch B's lock
	if err := b.Put(ctx, sess, lb.Fence); err != nil {
		t.Fatalf("B's lock was disturbed: %v", err)
	}
}

// A holder whose lock was taken from it behind its back is cut off by its renewer, and its
// Release does not touch the lock that is not its own any more.
func TestLostLeaseCancelsHolder(t *testing.T) {
	url := testpeers.Redis(t)
	ctx := context.Background()
	raw := redis.NewClient(mustParse(t, url))
	defer raw.Close()
	for _, tc := range []struct {
		name  string
		steal func(key string) error
	}{
		{"overwritten", func(key string) error { return raw.Set(ctx, key, "999999999", 0).Err() }},
		{"deleted", func(key string) error { return raw.Del(ctx, key).Err() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t, url, Options{Lease: 500 * time.Millisecond})
			id := "lost-" + tc.name
			cut := make(chan struct{})
			var once sync.Once
			l, err := s.Lock(ctx, id, chunking.Claim{Cancel: func() { once.Do(func() { close(cut) }) }})
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.steal(s.lockKey(id)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, cut, "the renewer to cancel the holder")
			if err := s.Put(ctx, sampleSession(id), l.Fence); !errors.Is(err, chunking.ErrFenced) {
				t.Fatalf("Put under a lost lease: %v, want ErrFenced", err)
			}
			l.Release()
			l.Release() // more than once: harmless
			if tc.name == "overwritten" {
				if v, _ := raw.Get(ctx, s.lockKey(id)).Result(); v != "999999999" {
					t.Fatalf("Release removed another's lock (now %q)", v)
				}
				raw.Del(ctx, s.lockKey(id))
			}
		})
	}
}

// Should Redis lose the token counter (restarted without persistence), later leases still
// get larger fences than earlier ones, whose holders may still be writing with them.
func TestFenceSurvivesLostCounter(t *testing.T) {
	url := testpeers.Redis(t)
	s := openStore(t, url, Options{})
	raw := redis.NewClient(mustParse(t, url))
	defer raw.Close()
	ctx := context.Background()
	var last int64
	for range 3 {
		l, err := s.Lock(ctx, "counted", chunking.Claim{})
		if err != nil {
			t.Fatal(err)
		}
		l.Release()
		if l.Fence <= last {
			t.Fatalf("fence %d after %d", l.Fence, last)
		}
		last = l.Fence
		if err := raw.Del(ctx, s.fenceKey()).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// A request that gives up waiting returns at once with its context's cause and leaves
// nothing running behind it.
func TestLockWaitCancelled(t *testing.T) {
	url := testpeers.Redis(t)
	a, b := openStore(t, url, Options{}), openStore(t, url, Options{})
	ctx := context.Background()
	la, err := a.Lock(ctx, "busy", chunking.Claim{}) // a short request: waited for, never cut off
	if err != nil {
		t.Fatal(err)
	}
	defer la.Release()
	baseline := runtime.NumGoroutine()
	cause := errors.New("client went away")
	wctx, cancel := context.WithCancelCause(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := b.Lock(wctx, "busy", chunking.Claim{})
		done <- err
	}()
	// Let the waiter find the lock held and ask for it at least once.
	for deadline := time.Now().Add(10 * time.Second); ; {
		b.mu.Lock()
		waiting := len(b.waiters["busy"]) > 0
		b.mu.Unlock()
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("waiter never started")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	cancel(cause)
	if err := <-done; !errors.Is(err, cause) {
		t.Fatalf("Lock returned %v, want the cause %v", err, cause)
	}
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(10 * time.Second); n > baseline && time.Now().Before(deadline); n = runtime.NumGoroutine() {
		time.Sleep(10 * time.Millisecond)
	}
	if n > baseline {
		t.Fatalf("%d goroutines after the wait ended, %d before", n, baseline)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.waiters) != 0 {
		t.Fatalf("waiters left registered: %v", b.waiters)
	}
}

func mustParse(t *testing.T, url string) *redis.Options {
	t.Helper()
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestLiveHolderAcrossNodes(t *testing.T) {
	url := testpeers.Redis(t)
	o := Options{StaleAfter: time.Second}
	lockertest.TestLiveHolder(t, openStore(t, url, o), openStore(t, url, o), time.Second)
}
