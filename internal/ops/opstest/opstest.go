// Package opstest checks that a takedown book and a download count book keep the rules the
// operator's side relies on, whichever store keeps them (a file of the data directory, Redis).
package opstest

import (
	"context"
	"testing"
	"time"

	"fileserver/internal/ops"
)

// TakedownBook checks a book: what one view of it records another sees (for a shared book,
// two nodes), the version moves with every change, an update never revives a takedown lifted
// meanwhile, and a check refuses what a takedown covers and nothing else.
func TakedownBook(t *testing.T, a, b ops.TakedownBook) {
	t.Helper()
	ctx := context.Background()
	v0, err := a.TakedownsVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ta, tb := ops.NewTakedowns(a), ops.NewTakedowns(b)
	if err := tb.Check(ctx, "x/y.jpg"); err != nil {
		t.Fatalf("an empty book refuses: %v", err)
	}
	td, err := ta.Add(ctx, ops.Takedown{Prefix: "x/", Reason: "r", By: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := b.TakedownsVersion(ctx); v == v0 {
		t.Fatal("the version did not move with an added takedown")
	}
	for name, blocked := range map[string]bool{"x/y.jpg": true, "x/deep/z": true, "xy/z": false, "a/x/y": false} {
		if err := tb.Check(ctx, name); (err != nil) != blocked {
			t.Errorf("the other view checks %q: %v, want blocked %v", name, err, blocked)
		}
		if tb.Blocked(ctx, name) != blocked {
			t.Errorf("Blocked(%q) != %v", name, blocked)
		}
	}
	updateAndLift(t, ta, tb, b, td)
}

// updateAndLift checks that an update is seen by the other view, that a lift happens once,
// and that an update after it revives nothing.
func updateAndLift(t *testing.T, ta, tb *ops.Takedowns, b ops.TakedownBook, td ops.Takedown) {
	t.Helper()
	ctx := context.Background()
	td.Removed = 3
	if err := ta.Update(ctx, td); err != nil {
		t.Fatal(err)
	}
	list, err := tb.List(ctx)
	if err != nil || len(list) != 1 || list[0].Removed != 3 || list[0].By != "alice" || !list[0].Created.Round(0).Equal(td.Created.Round(0)) {
		t.Fatalf("list after the update: %+v %v", list, err)
	}
	lifted, ok, err := b.LiftTakedown(ctx, td.ID)
	if err != nil || !ok || lifted.ID != td.ID {
		t.Fatalf("lift: %+v %v %v", lifted, ok, err)
	}
	if _, ok, _ := b.LiftTakedown(ctx, td.ID); ok {
		t.Fatal("a takedown lifted twice")
	}
	td.Removed = 4
	if err := ta.Update(ctx, td); err != nil {
		t.Fatal(err)
	}
	if list, _ := ta.List(ctx); len(list) != 0 {
		t.Fatalf("an update revived a lifted takedown: %+v", list)
	}
	if err := ta.Check(ctx, "x/y.jpg"); err != nil {
		t.Fatalf("still refused after the lift: %v", err)
	}
}

// CountBook checks a book of download counts: adds add up across views, missing names are 0,
// forgotten names start again.
func CountBook(t *testing.T, a, b ops.CountBook) {
	t.Helper()
	ctx := context.Background()
	ca := ops.NewCounts(a, time.Hour)
	defer ca.Close()
	for range 3 {
		ca.Add("f/1")
	}
	ca.Add("f/2")
	if got, err := ca.Get(ctx, []string{"f/1", "f/2", "f/3"}); err != nil || got["f/1"] != 3 || got["f/2"] != 1 || got["f/3"] != 0 {
		t.Fatalf("before a flush: %v %v", got, err)
	}
	if err := ca.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.AddDownloads(ctx, map[string]int64{"f/1": 2}); err != nil {
		t.Fatal(err)
	}
	got, err := b.Downloads(ctx, []string{"f/1", "f/2", "f/3"})
	if err != nil || got["f/1"] != 5 || got["f/2"] != 1 || got["f/3"] != 0 {
		t.Fatalf("across views: %v %v", got, err)
	}
	if err := ca.Forget(ctx, []string{"f/1"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Downloads(ctx, []string{"f/1", "f/2"}); got["f/1"] != 0 || got["f/2"] != 1 {
		t.Fatalf("after forgetting f/1: %v", got)
	}
}
