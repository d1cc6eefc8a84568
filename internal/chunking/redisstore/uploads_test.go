package redisstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"fileserver/internal/chunking"
	"fileserver/internal/chunking/chunktest"
	"fileserver/internal/storage"
	"fileserver/internal/testpeers"
)

// Two nodes share one Redis and one data directory. An upload starts on A and stalls; the
// client resumes on B, whose HEAD (Sync) cuts A off and reads the offset A made durable; B
// then finishes the upload.
func TestUploadsResumeOnAnotherNode(t *testing.T) {
	ctx := context.Background()
	url := testpeers.Redis(t)
	dir := t.TempDir()
	node := func() (*chunking.Uploads, *storage.Local) {
		st, err := storage.OpenLocal(dir, storage.LocalOptions{Fsync: true, Checksum: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		rs := openStore(t, url, Options{})
		return chunking.New(rs, st.Backend(), chunking.Options{TTL: time.Hour, Locker: rs, Copier: chunktest.Copier{}}), st
	}
	a, _ := node()
	b, stB := node()

	data := make([]byte, 256<<10)
	rand.Read(data)
	const first = 100_000 // what reaches A before its client goes silent
	s, err := a.Create(ctx, chunking.Session{Protocol: "tus", Target: "shared/file.bin", Length: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}

	body, client := io.Pipe()
	defer client.Close()
	cut := make(chan struct{})
	var once sync.Once
	// The request's context ends with the cut-off, as net/http's does once the connection's
	// read deadline has expired: what A received must be recorded all the same.
	reqCtx, reqEnd := context.WithCancel(ctx)
	defer reqEnd()
	stale := chunking.AppendRequest{Offset: 0, Length: -1,
		Body: chunktest.Script(func(dst io.Writer, limit int64) (int64, error) {
			return io.Copy(dst, io.LimitReader(body, limit))
		}),
		Cancel: func(error) {
			once.Do(func() {
				close(cut)
				client.CloseWithError(chunking.ErrHandedOff) // what an expired read deadline does
				reqEnd()
			})
		},
	}
	type result struct {
		s   *chunking.Session
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := a.Append(reqCtx, s.ID, stale)
		done <- result{s, err}
	}()
	// The pipe returns once A has read every byte; then the client stalls.
	if _, err := client.Write(data[:first]); err != nil {
		t.Fatal(err)
	}

	got, err := b.Sync(ctx, s.ID)
	if err != nil || got.Offset != first {
		t.Fatalf("Sync on B: offset %d, %v; want %d", got.Offset, err, first)
	}
	waitFor(t, cut, "A's cancel")
	r := <-done
	if !errors.Is(r.err, chunking.ErrHandedOff) || r.s.Offset != first {
		t.Fatalf("A's request ended with %v at offset %d", r.err, r.s.Offset)
	}
	if n := b.Snapshot().Handoffs; n != 1 {
		t.Fatalf("B counted %d hand-offs, want 1", n)
	}

	rest := data[first:]
	fin, err := b.Append(ctx, s.ID, chunking.AppendRequest{Offset: first, Length: -1,
		Body: chunktest.Script(func(dst io.Writer, _ int64) (int64, error) {
			n, err := dst.Write(rest)
			return int64(n), err
		}),
	})
	if err != nil || !fin.Completed {
		t.Fatalf("finishing on B: %v %+v", err, fin)
	}
	obj, err := stB.Open(ctx, "shared/file.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	stored, _ := io.ReadAll(obj.Content())
	sum := sha256.Sum256(data)
	if !bytes.Equal(stored, data) || fin.SHA256 != hex.EncodeToString(sum[:]) || obj.Meta().SHA256 != fin.SHA256 {
		t.Fatalf("committed file: %d bytes (want %d), digest %s / %s, want %x", len(stored), len(data), fin.SHA256, obj.Meta().SHA256, sum)
	}
	// A, which knew the upload at offset 0, can no longer write to it.
	if _, err := a.Append(ctx, s.ID, chunking.AppendRequest{Offset: 0, Length: -1}); !errors.Is(err, chunking.ErrCompleted) {
		t.Fatalf("late append on A: %v, want ErrCompleted", err)
	}
}
