package ops

import (
	"strconv"
	"testing"
)

func TestRecentKeepsTheLastEventsNewestFirst(t *testing.T) {
	b := NewBus()
	if len(b.Recent()) != 0 {
		t.Fatal("a new bus has events")
	}
	for i := range keepRecent + 7 {
		b.Publish(Event{Type: "download_started", Name: strconv.Itoa(i)})
		b.Publish(Event{Type: "upload_progress", Name: "not kept"})
	}
	got := b.Recent()
	if len(got) != keepRecent || got[0].Name != strconv.Itoa(keepRecent+6) || got[keepRecent-1].Name != "7" {
		t.Fatalf("recent: %d events, first %q, last %q", len(got), got[0].Name, got[len(got)-1].Name)
	}
}

func TestSlowFollowerLosesEventsWithoutBlocking(t *testing.T) {
	b := NewBus()
	ch, cancel := b.Subscribe()
	defer cancel()
	for range 1000 {
		b.Publish(Event{Type: "download_started"})
	}
	if len(ch) != cap(ch) || b.Dropped() != int64(1000-cap(ch)) {
		t.Fatalf("buffered %d of %d, dropped %d", len(ch), cap(ch), b.Dropped())
	}
	cancel()
	if b.Following() {
		t.Fatal("still followed after cancel")
	}
}
