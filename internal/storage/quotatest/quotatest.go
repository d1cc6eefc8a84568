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
	later := now.Add(time.Hour)
	hold := func(id string, n int64) (bool, int64) { return book.Hold(uploader, id, n, 1000, now, later) }

	book.Charge(uploader, 300, now)
	if got := book.UsedToday(uploader, now); got != 300 {
		t.Fatalf("UsedToday after a charge of 300: %d", got)
	}
	if ok, _ := hold("a", 400); !ok {
		t.Fatalf("a hold within the limit was refused")
	}
	if ok, room := hold("b", 400); ok || room != 300 {
		t.Fatalf("a hold past the limit (300 used, 400 held, 400 asked of 1000): ok %v room %d, want refused with room 300", ok, room)
	}
	if ok, _ := hold("b", 300); !ok {
		t.Fatalf("a hold of exactly the room was refused")
	}
	// Full now: a hold may still shrink or be renewed, never grow.
	if ok, _ := hold("a", 400); !ok {
		t.Fatalf("renewing a hold at its size was refused")
	}
	if ok, _ := hold("a", 401); ok {
		t.Fatalf("a hold grew past the limit")
	}
	if ok, _ := hold("a", 100); !ok {
		t.Fatalf("shrinking a hold was refused")
	}
	if ok, _ := hold("c", 301); ok {
		t.Fatalf("room of a shrunk hold counted twice")
	}
	book.Release(uploader, "b")
	book.Release(uploader, "b") // releasing twice is harmless
	if ok, _ := hold("c", 600); !ok {
		t.Fatalf("a released hold still counts")
	}
	// Another uploader is counted apart.
	if ok, _ := book.Hold(uploader+"-other", "a", 1000, 1000, now, later); !ok {
		t.Fatalf("another uploader's hold was refused")
	}
	book.Release(uploader+"-other", "a")

	// An expired hold counts for nothing.
	book.Release(uploader, "a")
	book.Release(uploader, "c")
	if ok, _ := book.Hold(uploader, "short", 700, 1000, now, now.Add(time.Second)); !ok {
		t.Fatalf("hold refused")
	}
	if ok, _ := book.Hold(uploader, "after", 700, 1000, now.Add(2*time.Second), later); !ok {
		t.Fatalf("an expired hold still counts")
	}
	book.Release(uploader, "after")

	// Concurrent holds never pass the limit together: 700 left, 20 holds of 100 race.
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := 0
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, _ := hold(fmt.Sprint("race-", i), 100); ok {
				mu.Lock()
				granted++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if granted != 7 {
		t.Fatalf("%d of 20 concurrent holds of 100 granted with 700 left, want 7", granted)
	}
}
