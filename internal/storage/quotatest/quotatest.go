// Package quotatest checks that a storage.QuotaBook keeps the rules limits.daily_quota
// relies on, so the local book and the Redis one are held to the same behaviour.
package quotatest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"fileserver/internal/storage"
)

// Run checks book: holds count against the limit with what was committed today; a hold may
// always shrink or be renewed; releases and expiry give room back; concurrent holds never
// together pass the limit. uploader must be new to book.
func Run(t *testing.T, book storage.QuotaBook, uploader string) {
	t.Helper()
	now := time.Now()
	r := run{t: t, book: book, uploader: uploader, now: now, later: now.Add(time.Hour)}
	// Each check starts from the book the one before left, so they run in this order.
	r.charge()
	r.holdsCountAgainstLimit()
	r.fullBookShrinksOrRenews()
	r.releaseGivesRoomBack()
	r.uploadersCountApart()
	r.expiredHoldCountsForNothing()
	r.concurrentHoldsKeepLimit()
}

// run is one Run on a book: the uploader its checks charge, with a limit of 1000, and the
// times they hold at.
type run struct {
	t          *testing.T
	book       storage.QuotaBook
	uploader   string
	now, later time.Time
}

// hold asks for a hold of n under the limit of 1000, until an hour from now.
func (r run) hold(id string, n int64) (bool, int64) {
	return r.book.Hold(r.uploader, id, n, 1000, r.now, r.later)
}

// charge decides whether a commit is counted as used today: it charges 300.
func (r run) charge() {
	r.t.Helper()
	r.book.Charge(r.uploader, 300, r.now)
	if got := r.book.UsedToday(r.uploader, r.now); got != 300 {
		r.t.Fatalf("UsedToday after a charge of 300: %d", got)
	}
}

// holdsCountAgainstLimit decides whether holds count with what was charged: with 300
// charged, holds of 400 and 300 fit and fill the book, one of 400 more does not.
func (r run) holdsCountAgainstLimit() {
	r.t.Helper()
	if ok, _ := r.hold("a", 400); !ok {
		r.t.Fatalf("a hold within the limit was refused")
	}
	if ok, room := r.hold("b", 400); ok || room != 300 {
		r.t.Fatalf("a hold past the limit (300 used, 400 held, 400 asked of 1000): ok %v room %d, want refused with room 300", ok, room)
	}
	if ok, _ := r.hold("b", 300); !ok {
		r.t.Fatalf("a hold of exactly the room was refused")
	}
}

// fullBookShrinksOrRenews decides whether, with the book full, a hold may still shrink or be
// renewed but never grow, and whether the room a shrunk hold gave back is counted once.
func (r run) fullBookShrinksOrRenews() {
	r.t.Helper()
	if ok, _ := r.hold("a", 400); !ok {
		r.t.Fatalf("renewing a hold at its size was refused")
	}
	if ok, _ := r.hold("a", 401); ok {
		r.t.Fatalf("a hold grew past the limit")
	}
	if ok, _ := r.hold("a", 100); !ok {
		r.t.Fatalf("shrinking a hold was refused")
	}
	if ok, _ := r.hold("c", 301); ok {
		r.t.Fatalf("room of a shrunk hold counted twice")
	}
}

// releaseGivesRoomBack decides whether a released hold stops counting, releasing it twice
// being harmless.
func (r run) releaseGivesRoomBack() {
	r.t.Helper()
	r.book.Release(r.uploader, "b")
	r.book.Release(r.uploader, "b") // releasing twice is harmless
	if ok, _ := r.hold("c", 600); !ok {
		r.t.Fatalf("a released hold still counts")
	}
}

// uploadersCountApart decides whether another uploader is counted apart: its hold of the
// whole limit fits while this uploader's book is full.
func (r run) uploadersCountApart() {
	r.t.Helper()
	if ok, _ := r.book.Hold(r.uploader+"-other", "a", 1000, 1000, r.now, r.later); !ok {
		r.t.Fatalf("another uploader's hold was refused")
	}
	r.book.Release(r.uploader+"-other", "a")
}

// expiredHoldCountsForNothing decides whether a hold past its expiry stops counting: after
// it, a hold it would not have left room for fits.
func (r run) expiredHoldCountsForNothing() {
	r.t.Helper()
	r.book.Release(r.uploader, "a")
	r.book.Release(r.uploader, "c")
	if ok, _ := r.book.Hold(r.uploader, "short", 700, 1000, r.now, r.now.Add(time.Second)); !ok {
		r.t.Fatalf("hold refused")
	}
	if ok, _ := r.book.Hold(r.uploader, "after", 700, 1000, r.now.Add(2*time.Second), r.later); !ok {
		r.t.Fatalf("an expired hold still counts")
	}
	r.book.Release(r.uploader, "after")
}

// concurrentHoldsKeepLimit decides whether concurrent holds never pass the limit together:
// with 700 left, 20 holds of 100 race and exactly 7 are granted.
func (r run) concurrentHoldsKeepLimit() {
	r.t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := 0
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, _ := r.hold(fmt.Sprint("race-", i), 100); ok {
				mu.Lock()
				granted++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if granted != 7 {
		r.t.Fatalf("%d of 20 concurrent holds of 100 granted with 700 left, want 7", granted)
	}
}
