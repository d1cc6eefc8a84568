package storage_test

import (
	"sync"
	"testing"
	"time"

	"fileserver/internal/storage"
	"fileserver/internal/storage/quotatest"
)

func TestLocalQuotaBook(t *testing.T) {
	l, err := storage.OpenLocal(t.TempDir(), storage.LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	quotatest.Run(t, l, "addr:192.0.2.1")
}

// countingBook counts the holds made per upload id.
type countingBook struct {
	storage.QuotaBook
	mu    sync.Mutex
	holds map[string]int
}

func (b *countingBook) Hold(uploader, id string, n, limit int64, now, expires time.Time) (bool, int64) {
	b.mu.Lock()
	b.holds[id]++
	b.mu.Unlock()
	return b.QuotaBook.Hold(uploader, id, n, limit, now, expires)
}

func (b *countingBook) count(id string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.holds[id]
}

// A hold released while its upload's renewal (Keep) still runs stays released: the renewal
// does not make it again. Another upload's renewal running beside it shows the ticks came.
func TestReleasedHoldNotRenewed(t *testing.T) {
	l, err := storage.OpenLocal(t.TempDir(), storage.LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	book := &countingBook{QuotaBook: l, holds: map[string]int{}}
	q := &storage.Quota{Book: book, Limit: 1000, HoldFor: 30 * time.Millisecond}
	const who = "romeo@example.org"
	for _, id := range []string{"released", "kept"} {
		if err := q.Reserve(who, id, 100); err != nil {
			t.Fatal(err)
		}
		defer q.Keep(who, id, 100)()
	}
	waitFor := func(id string, n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); book.count(id) < n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s renewed %d times, want %d", id, book.count(id), n)
			}
		}
	}
	waitFor("released", 2) // the renewal runs
	q.Release(who, "released")
	after := book.count("kept")
	waitFor("kept", after+3) // three periods later
	if ok, _ := l.Hold(who, "probe", 900, 1000, time.Now(), time.Now().Add(time.Hour)); !ok {
		t.Fatal("the released hold was made again by its renewal")
	}
}
