package chunking

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"fileserver/internal/chunking/chunktest"
	"fileserver/internal/crashpoint"
	"fileserver/internal/storage"
)

// losingLocker hands out leases that report themselves lost once lost is set, as a Redis
// lease does after its node stalled past it and another node took the upload.
type losingLocker struct {
	*MemLocker
	lost atomic.Bool
}

func (l *losingLocker) Lock(ctx context.Context, id string, c Claim) (Lease, error) {
	lease, err := l.MemLocker.Lock(ctx, id, c)
	lease.Check = func(context.Context) error {
		if l.lost.Load() {
			return ErrFenced
		}
		return nil
	}
	return lease, err
}

// A request that lost its lease removes nothing: the upload's data and state are another
// request's now.
func TestLostLeaseRemovesNothing(t *testing.T) {
	f := newFixture(t, 0)
	locker := &losingLocker{MemLocker: NewMemLocker(0)}
	f.u.locker = locker
	f.u.opts.CheckpointBytes = 1 << 20
	ctx := context.Background()
	data := bytes.Repeat([]byte("L"), 3<<20)
	req := AppendRequest{Length: -1, Body: chunktest.Script(func(dst io.Writer, _ int64) (int64, error) {
		n, err := dst.Write(data[:2<<20]) // a checkpoint or two recorded
		locker.lost.Store(true)
		return int64(n), err // and the body ends short of its length
	})}
	if _, err := f.u.Put(ctx, Session{ID: "put-lost", Target: "lost.bin", Length: int64(len(data))}, req); err == nil {
		t.Fatal("a short PUT succeeded")
	}
	if _, err := os.Stat(filepath.Join(f.dir, "partial", "put-lost")); err != nil {
		t.Fatalf("the partial data of an upload this request no longer held was removed: %v", err)
	}
	if _, err := f.u.sessions.Get(ctx, "put-lost"); err != nil {
		t.Fatalf("its state was removed: %v", err)
	}
}

// A plain PUT that checkpointed, then was stopped within its commit (the process killed
// there), is finished by the next HEAD after a restart: its state named every byte before
// the commit started.
func TestCheckpointedPutCommitCutShort(t *testing.T) {
	f := newFixture(t, 0)
	f.u.opts.CheckpointBytes = 1 << 20
	ctx := context.Background()
	data := bytes.Repeat([]byte("P"), 3<<20+77)
	t.Setenv(crashpoint.Env, "partial-unlinked")
	go f.u.Put(ctx, Session{ID: "put-cut", Target: "cut.bin", Length: int64(len(data))}, body(0, data)) // stops for good
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(f.dir, "files", "cut.bin")); err == nil {
			if _, err := os.Stat(filepath.Join(f.dir, "partial", "put-cut")); os.IsNotExist(err) {
				break // linked, partial removed: stopped at the crash point
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the PUT never reached its commit")
		}
		time.Sleep(5 * time.Millisecond)
	}
	restarted, _ := restart(t, f.dir)
	got, err := restarted.Sync(ctx, "put-cut")
	if err != nil || !got.Completed || got.Offset != int64(len(data)) {
		t.Fatalf("HEAD after the commit was cut short: %+v, %v; want complete", got, err)
	}
	if !bytes.Equal(f.stored(t, "cut.bin"), data) {
		t.Fatal("stored bytes differ")
	}
}

// Without digests an upload's own file cannot be told from another's of the same size: a
// HEAD does not take a file it cannot recognise, and the upload's data stays.
func TestNoAdoptionWithoutDigest(t *testing.T) {
	f := newFixture(t, 0)
	f.u.opts.SkipDigest = true
	ctx := context.Background()
	s, _ := f.u.Create(ctx, Session{Target: "taken.bin", Length: 5})
	w, _ := f.store.Create(ctx, "taken.bin")
	w.Write([]byte("BBBBB"))
	w.Commit(ctx, storage.Meta{})
	if _, err := f.u.Append(ctx, s.ID, body(0, []byte("AAAAA"))); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("commit onto a taken name: %v", err)
	}
	if got, err := f.u.Sync(ctx, s.ID); err == nil || got.Completed {
		t.Fatalf("HEAD took another upload's file: %+v, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "partial", s.ID)); err != nil {
		t.Fatalf("the upload's data went: %v", err)
	}
}

// A tus partial upload whose every byte is recorded, its completion not, is complete: HEAD
// says so and a concatenation takes it.
func TestFullPartialIsComplete(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	part, _ := f.u.Create(ctx, Session{Partial: true, Length: 4})
	if _, err := f.u.Append(ctx, part.ID, body(0, []byte("abcd"))); err != nil {
		t.Fatal(err)
	}
	s, _ := f.u.sessions.Get(ctx, part.ID)
	s.Completed = false // as if a crash came between the two records
	f.u.sessions.Put(ctx, s, 0)
	if got, err := f.u.Sync(ctx, part.ID); err != nil || !got.Completed {
		t.Fatalf("HEAD on a full partial upload: %+v, %v", got, err)
	}
	s.Completed = false
	f.u.sessions.Put(ctx, s, 0)
	if _, err := f.u.Concat(ctx, Session{Target: "whole.bin"}, []string{part.ID}, storage.Meta{}); err != nil {
		t.Fatalf("concatenation of a full partial upload: %v", err)
	}
}

// After Interrupt, no request starts writing: it is refused at once.
func TestInterruptIsFinal(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	s, _ := f.u.Create(ctx, Session{Target: "late.bin", Length: 4})
	f.u.Interrupt()
	req := body(0, []byte("abcd"))
	req.Cancel = func(error) {}
	if _, err := f.u.Append(ctx, s.ID, req); !errors.Is(err, ErrShutdown) {
		t.Fatalf("append after Interrupt: %v, want ErrShutdown", err)
	}
}
