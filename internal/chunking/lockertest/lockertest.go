// Package lockertest checks that a chunking.Locker keeps the rules chunking relies on, so the
// one-process locker and the Redis one are held to the same behaviour.
package lockertest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"fileserver/internal/chunking"
)

// holder is a request holding a lock in a test: it stops (releases) when cut off.
type holder struct {
	lease chunking.Lease
	cut   chan struct{}
	cuts  atomic.Int32
}

func hold(t *testing.T, l chunking.Locker, id string, idle func() time.Duration) *holder {
	t.Helper()
	h := &holder{cut: make(chan struct{})}
	var err error
	h.lease, err = l.Lock(context.Background(), id, chunking.Claim{
		Cancel: func() {
			if h.cuts.Add(1) == 1 {
				close(h.cut)
			}
		},
		Idle: idle,
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		<-h.cut
		h.lease.Release()
	}()
	return h
}

// TestLiveHolder: a holder still receiving keeps its session from requests that do not force
// (ErrBusy, without being cut off), a forcing request cuts it off, and a holder that received
// nothing for staleAfter is cut off by any request. a and b are two nodes of one locker (the
// same value for a one-process locker), whose holders are stale after staleAfter.
func TestLiveHolder(t *testing.T, a, b chunking.Locker, staleAfter time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	live := func() time.Duration { return 0 }
	stale := func() time.Duration { return staleAfter }

	t.Run("live holder keeps it", func(t *testing.T) {
		h := hold(t, a, "live", live)
		for _, l := range []chunking.Locker{b, a} {
			if _, err := l.Lock(ctx, "live", chunking.Claim{Idle: live}); !errors.Is(err, chunking.ErrBusy) {
				t.Fatalf("Lock without force on a live holder: %v, want ErrBusy", err)
			}
		}
		if h.cuts.Load() != 0 {
			t.Fatal("a live holder was cut off by a request that does not force")
		}
		// Forcing cuts it off and takes over.
		l, err := b.Lock(ctx, "live", chunking.Claim{Force: true})
		if err != nil {
			t.Fatal(err)
		}
		if h.cuts.Load() == 0 || l.Fence <= h.lease.Fence {
			t.Fatalf("forced take-over: holder cut %d times, fence %d after %d", h.cuts.Load(), l.Fence, h.lease.Fence)
		}
		l.Release()
	})
	t.Run("stale holder is cut off", func(t *testing.T) {
		h := hold(t, a, "stale", stale)
		l, err := b.Lock(ctx, "stale", chunking.Claim{Idle: live})
		if err != nil {
			t.Fatal(err)
		}
		if h.cuts.Load() == 0 || l.Waited <= 0 {
			t.Fatalf("take-over from a stale holder: cut %d times, waited %v", h.cuts.Load(), l.Waited)
		}
		l.Release()
	})
	t.Run("short holder is waited for", func(t *testing.T) {
		short, err := a.Lock(ctx, "short", chunking.Claim{})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			time.Sleep(50 * time.Millisecond)
			short.Release()
		}()
		l, err := b.Lock(ctx, "short", chunking.Claim{Idle: live})
		if err != nil {
			t.Fatalf("waiting for a short holder: %v", err)
		}
		l.Release()
	})
}
