package chunking

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"fileserver/internal/crashpoint"
	"fileserver/internal/storage"
)

// A commit a crash cut short after its data was published is taken over by the next HEAD
// even with a scanner: the data was judged before it was published.
func TestCutShortCommitRecoveredWithScan(t *testing.T) {
	f := newFixture(t, 0)
	f.u.opts.CheckpointBytes = 1 << 20
	ctx := context.Background()
	data := bytes.Repeat([]byte("P"), 3<<20+77)
	t.Setenv(crashpoint.Env, "partial-unlinked")
	go f.u.Put(ctx, Session{ID: "put-cut", Target: "cut.bin", Length: int64(len(data))}, body(0, data))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(f.dir, "files", "cut.bin")); err == nil {
			if _, err := os.Stat(filepath.Join(f.dir, "partial", "put-cut")); os.IsNotExist(err) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the commit never reached its crash point")
		}
		time.Sleep(5 * time.Millisecond)
	}
	restarted, _ := restart(t, f.dir)
	restarted.opts.Scan = func(context.Context, io.Reader, int64, *Session) (string, error) { return "clean", nil }
	got, err := restarted.Sync(ctx, "put-cut")
	if err != nil || got == nil || !got.Completed {
		t.Fatalf("HEAD after a commit cut short, with a scanner: %+v %v", got, err)
	}
}

// refuseAll gives f a scanner that refuses every upload for good, and the count of its scans.
func refuseAll(f *fixture) *int {
	scans := new(int)
	f.u.opts.Scan = func(context.Context, io.Reader, int64, *Session) (string, error) {
		*scans++
		return "infected", errors.Join(ErrRefused, errors.New("test signature"))
	}
	return scans
}

// uploadRefused sends a whole tus upload to up/bad.bin, which f's scanner refuses.
func uploadRefused(t *testing.T, f *fixture) *Session {
	t.Helper()
	ctx := context.Background()
	data := bytes.Repeat([]byte("X"), 5000)
	s, err := f.u.Create(ctx, Session{Protocol: "tus", Target: "up/bad.bin", Length: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.u.Append(ctx, s.ID, body(0, data)); !errors.Is(err, ErrRefused) {
		t.Fatalf("the last append: %v", err)
	}
	return s
}

// A refusal that stands is remembered: asking again (a HEAD, a retried PATCH) does not scan
// again. The refused bytes leave the disk at once, and the refusal outlives a restart.
func TestRefusedUploadNotScannedAgain(t *testing.T) {
	f := newFixture(t, 0)
	scans := refuseAll(f)
	ctx := context.Background()
	s := uploadRefused(t, f)
	for range 3 {
		if _, err := f.u.Sync(ctx, s.ID); !errors.Is(err, ErrRefused) {
			t.Fatalf("HEAD: %v", err)
		}
	}
	if *scans != 1 {
		t.Fatalf("scanned %d times, want once", *scans)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "partial", s.ID)); !os.IsNotExist(err) {
		t.Fatalf("the refused upload's data are still on disk: %v", err)
	}
	restarted, _ := restart(t, f.dir)
	restarted.opts.Scan = func(context.Context, io.Reader, int64, *Session) (string, error) {
		*scans++
		return "clean", nil
	}
	for range 2 {
		if got, err := restarted.Sync(ctx, s.ID); !errors.Is(err, ErrRefused) || got == nil || got.Completed {
			t.Fatalf("HEAD after a restart: %+v %v; want the refusal", got, err)
		}
	}
	if *scans != 1 {
		t.Fatalf("scanned %d times in all, want once", *scans)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "files", "up", "bad.bin")); !os.IsNotExist(err) {
		t.Fatalf("a refused upload was published after a restart: %v", err)
	}
}

// A refusal whose data cannot be removed (the lease was lost to another request) is still
// remembered: asking again does not scan again.
func TestRefusalRememberedWhenDataStay(t *testing.T) {
	f := newFixture(t, 0)
	locker := &losingLocker{MemLocker: NewMemLocker(0)}
	f.u.locker = locker
	scans := 0
	f.u.opts.Scan = func(context.Context, io.Reader, int64, *Session) (string, error) {
		scans++
		locker.lost.Store(scans == 1) // the removal after the first verdict finds the lease lost
		return "infected", errors.Join(ErrRefused, errors.New("test signature"))
	}
	ctx := context.Background()
	s := uploadRefused(t, f)
	locker.lost.Store(false)
	for range 3 {
		if _, err := f.u.Sync(ctx, s.ID); !errors.Is(err, ErrRefused) {
			t.Fatalf("HEAD: %v", err)
		}
	}
	if scans != 1 {
		t.Fatalf("scanned %d times, want once", scans)
	}
}

// A new upload to the name of a refused one is judged on its own bytes, not refused unread.
func TestCleanPutAfterRefusedUploadToSameName(t *testing.T) {
	f := newFixture(t, 0)
	scans, bad := 0, true
	f.u.opts.Scan = func(context.Context, io.Reader, int64, *Session) (string, error) {
		scans++
		if bad {
			return "infected", errors.Join(ErrRefused, errors.New("test signature"))
		}
		return "clean", nil
	}
	ctx := context.Background()
	evil := bytes.Repeat([]byte("X"), 5000)
	req := body(0, evil)
	req.Length = int64(len(evil))
	if _, err := f.u.Begin(ctx, Session{ID: "put-samename", Target: "up/x.bin", Length: int64(len(evil))}, req); !errors.Is(err, ErrRefused) {
		t.Fatalf("the refused upload: %v", err)
	}
	bad = false
	clean := bytes.Repeat([]byte("C"), 6000)
	if _, err := f.u.Put(ctx, Session{ID: "put-samename", Target: "up/x.bin", Length: int64(len(clean))}, body(0, clean)); err != nil {
		t.Fatalf("a clean upload to the same name: %v (scans %d)", err, scans)
	}
	if scans != 2 {
		t.Fatalf("scanned %d times, want twice", scans)
	}
}

// The parts of a refused tus concatenation hold the refused bytes: they go with the refusal,
// and a retry of the concatenation is not scanned again.
func TestRefusedConcatRemovesItsParts(t *testing.T) {
	f := newFixture(t, 0)
	scans := refuseAll(f)
	ctx := context.Background()
	var ids []string
	for _, part := range []string{"EICAR-", "STANDARD-", "TEST"} {
		p, err := f.u.Create(ctx, Session{Protocol: "tus", Length: int64(len(part)), Partial: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.u.Append(ctx, p.ID, body(0, []byte(part))); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	if _, err := f.u.Concat(ctx, Session{Protocol: "tus", Target: "cat.bin"}, ids, storage.Meta{}); !errors.Is(err, ErrRefused) {
		t.Fatalf("the concatenation: %v", err)
	}
	if _, err := f.u.Concat(ctx, Session{Protocol: "tus", Target: "cat.bin"}, ids, storage.Meta{}); err == nil {
		t.Fatal("a retry of the refused concatenation succeeded")
	}
	for _, id := range ids {
		if _, err := os.Stat(filepath.Join(f.dir, "partial", id)); !os.IsNotExist(err) {
			t.Errorf("part %s still on disk: %v", id, err)
		}
	}
	if *scans != 1 {
		t.Fatalf("scanned %d times, want once", *scans)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "files", "cat.bin")); !os.IsNotExist(err) {
		t.Fatalf("the refused concatenation was published: %v", err)
	}
}
