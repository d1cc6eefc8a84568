package redisstore

import (
	"testing"
	"time"

	"fileserver/internal/storage/quotatest"
	"fileserver/internal/testpeers"
)

// Two nodes share one book: what one charges, the other sees; each UTC day starts at zero.
func TestQuotaSharedByNodes(t *testing.T) {
	url := testpeers.Redis(t)
	a, b := openStore(t, url, Options{}), openStore(t, url, Options{})
	now := time.Date(2026, 11, 24, 23, 59, 0, 0, time.UTC)
	a.Charge("alice@example.org", 1000, now)
	b.Charge("alice@example.org", 500, now)
	b.Charge("bob@example.org", 7, now)
	if got := b.UsedToday("alice@example.org", now); got != 1500 {
		t.Fatalf("alice used %d, want 1500", got)
	}
	if got := a.UsedToday("bob@example.org", now); got != 7 {
		t.Fatalf("bob used %d, want 7", got)
	}
	if got := a.UsedToday("alice@example.org", now.Add(2*time.Minute)); got != 0 {
		t.Fatalf("next day alice used %d, want 0", got)
	}
}

// The shared book keeps the rules of every book.
func TestQuotaBookRules(t *testing.T) {
	url := testpeers.Redis(t)
	quotatest.Run(t, openStore(t, url, Options{}), "addr:192.0.2.1")
}

// Two nodes share the holds of uploads in progress: what one node's upload holds, an upload
// on the other cannot take.
func TestQuotaHoldsSharedByNodes(t *testing.T) {
	url := testpeers.Redis(t)
	a, b := openStore(t, url, Options{}), openStore(t, url, Options{})
	now := time.Now()
	if ok, _ := a.Hold("carol@example.org", "up1", 800, 1000, now, now.Add(time.Hour)); !ok {
		t.Fatal("hold on node a refused")
	}
	if ok, room := b.Hold("carol@example.org", "up2", 800, 1000, now, now.Add(time.Hour)); ok || room != 200 {
		t.Fatalf("hold on node b: ok %v room %d, want refused with room 200", ok, room)
	}
	a.Release("carol@example.org", "up1")
	if ok, _ := b.Hold("carol@example.org", "up2", 800, 1000, now, now.Add(time.Hour)); !ok {
		t.Fatal("released hold still counted on node b")
	}
}
