package chunking

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"fileserver/internal/chunking/chunktest"
	"fileserver/internal/storage"
)

// restart is another Uploads on the same data and session directory, as after a crash: it
// sees only what was recorded.
func restart(t *testing.T, dir string) (*Uploads, *storage.Local) {
	t.Helper()
	st, err := storage.OpenLocal(dir, storage.LocalOptions{Fsync: true, Checksum: true, Preallocate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ds, err := NewDirStore(st.Root(), true)
	if err != nil {
		t.Fatal(err)
	}
	return New(ds, st.Backend(), Options{TTL: time.Hour, Copier: chunktest.Copier{}}), st
}

// While a request streams in, every CheckpointBytes what arrived is recorded: a crash midway
// (here: another process reading the recorded state while the request still sends) finds an
// offset past zero, never past what arrived, with the digest of exactly those bytes, and a
// preallocated file is not taken for received bytes. The upload then completes byte for byte
// from that offset.
func TestCheckpointsWhileStreaming(t *testing.T) {
	const every = 1 << 20
	data := bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16+1000) // 3 MiB and a bit
	dir := t.TempDir()
	st, err := storage.OpenLocal(dir, storage.LocalOptions{Fsync: true, Checksum: true, Preallocate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ds, _ := NewDirStore(st.Root(), true)
	u := New(ds, st.Backend(), Options{TTL: time.Hour, CheckpointBytes: every, Copier: chunktest.Copier{}})
	ctx := context.Background()
	s, err := u.Create(ctx, Session{Target: "cp.bin", Length: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	var seen []int64 // offsets another process finds recorded while the request streams
	sent := 0
	crash := errors.New("connection lost")
	req := AppendRequest{Length: -1, Body: chunktest.Script(func(dst io.Writer, _ int64) (int64, error) {
		for sent < 2*every+every/2 {
			n, err := dst.Write(data[sent : sent+64<<10])
			sent += n
			if err != nil {
				return int64(sent), err
			}
			other, _ := restart(t, dir)
			got, err := other.Get(ctx, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Offset > int64(sent) {
				t.Fatalf("recorded offset %d with %d bytes sent", got.Offset, sent)
			}
			if len(seen) == 0 || seen[len(seen)-1] != got.Offset {
				seen = append(seen, got.Offset)
			}
			if got.Offset > 0 {
				h, _ := restoreHash(got.HashState)
				want := sha256.Sum256(data[:got.Offset])
				if !bytes.Equal(h.Sum(nil), want[:]) {
					t.Fatalf("the digest state recorded at %d is not that of the first %d bytes", got.Offset, got.Offset)
				}
				fi, _ := os.Stat(filepath.Join(dir, "partial", s.ID))
				if fi.Size() < got.Offset {
					t.Fatalf("recorded offset %d, partial file %d bytes", got.Offset, fi.Size())
				}
			}
		}
		return int64(sent), crash // and the request breaks off
	})}
	if _, err := u.Append(ctx, s.ID, req); !errors.Is(err, crash) {
		t.Fatalf("append: %v", err)
	}
	if len(seen) < 3 || seen[0] != 0 || seen[1] != every || seen[2] != 2*every {
		t.Fatalf("offsets recorded while streaming: %v, want 0, then one every %d bytes", seen, every)
	}
	// The request, cut off, recorded what it had; a new process resumes from there.
	other, ost := restart(t, dir)
	at, _ := other.Get(ctx, s.ID)
	if at.Offset != int64(sent) {
		t.Fatalf("offset %d after the request broke off, %d bytes sent", at.Offset, sent)
	}
	got, err := other.Append(ctx, s.ID, body(at.Offset, data[at.Offset:]))
	if err != nil || !got.Completed {
		t.Fatalf("resuming from the checkpoint: %+v, %v", got, err)
	}
	m, _ := ost.Stat(ctx, "cp.bin")
	sum := sha256.Sum256(data)
	if m.SHA256 != hex.EncodeToString(sum[:]) || m.Size != int64(len(data)) {
		t.Fatalf("stored %+v", m)
	}
}

// A checkpoint is also due after CheckpointInterval with a byte arrived, for a slow client.
func TestCheckpointInterval(t *testing.T) {
	f := newFixture(t, 0)
	f.u.opts.CheckpointInterval = 50 * time.Millisecond
	f.u.opts.Now = time.Now
	ctx := context.Background()
	s, _ := f.u.Create(ctx, Session{Target: "slow.bin", Length: 1000})
	var recorded int64
	req := AppendRequest{Length: -1, Body: chunktest.Script(func(dst io.Writer, _ int64) (int64, error) {
		for i := range 5 {
			dst.Write([]byte("0123456789"))
			time.Sleep(60 * time.Millisecond)
			if i == 4 {
				got, _ := f.u.sessions.Get(ctx, s.ID)
				recorded = got.Offset
			}
		}
		return 50, io.ErrUnexpectedEOF
	})}
	f.u.Append(ctx, s.ID, req)
	if recorded < 30 {
		t.Fatalf("offset recorded after 5 slow writes of 10 bytes: %d, want at least 30", recorded)
	}
}

// A request with a tus checksum is kept whole or not at all: nothing of it is recorded
// before its digest is checked.
func TestNoCheckpointsUnderChecksum(t *testing.T) {
	f := newFixture(t, 0)
	f.u.opts.CheckpointBytes = 1 << 20
	ctx := context.Background()
	data := bytes.Repeat([]byte("x"), 3<<20)
	s, _ := f.u.Create(ctx, Session{Target: "sum.bin", Length: int64(len(data))})
	req := body(0, data)
	req.Checksum, req.ChecksumWant = sha256.New(), []byte("wrong")
	if _, err := f.u.Append(ctx, s.ID, req); !errors.Is(err, ErrChecksum) {
		t.Fatalf("append with a wrong checksum: %v", err)
	}
	if got, _ := f.u.Get(ctx, s.ID); got.Offset != 0 {
		t.Fatalf("a chunk that failed its checksum left offset %d", got.Offset)
	}
}
