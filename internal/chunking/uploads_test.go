package chunking

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"fileserver/internal/chunking/chunktest"
	"fileserver/internal/storage"
)

type fixture struct {
	u     *Uploads
	store *storage.Local
	dir   string
	now   time.Time
}

func newFixture(t *testing.T, maxSize int64) *fixture {
	t.Helper()
	return newFixtureWith(t, maxSize, storage.LocalOptions{Fsync: true, Checksum: true})
}

// newFixtureWith is newFixture on a store opened with opts.
func newFixtureWith(t *testing.T, maxSize int64, opts storage.LocalOptions) *fixture {
	t.Helper()
	dir := t.TempDir()
	st, err := storage.OpenLocal(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ds, err := NewDirStore(st.Root(), true)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: st, dir: dir, now: time.Unix(1_800_000_000, 0)}
	f.u = New(ds, st.Backend(), Options{TTL: time.Hour, MaxSize: maxSize, Now: func() time.Time { return f.now }, Copier: chunktest.Copier{}})
	return f
}

// body is an AppendRequest bringing data. Past its limit it writes what the limit allows
// before it fails, as a copy in small reads would.
func body(offset int64, data []byte) AppendRequest {
	return AppendRequest{
		Offset: offset, Length: -1,
		Body: chunktest.Script(func(dst io.Writer, limit int64) (int64, error) {
			if limit >= 0 && int64(len(data)) > limit {
				n, _ := dst.Write(data[:limit])
				return int64(n), ErrTooLarge
			}
			n, err := dst.Write(data)
			return int64(n), err
		}),
	}
}

func (f *fixture) stored(t *testing.T, name string) []byte {
	t.Helper()
	obj, err := f.store.Open(context.Background(), name)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer obj.Close()
	b, _ := io.ReadAll(obj.Content())
	return b
}

func TestAppendInPiecesCommitsOnce(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789"), 3000)
	s, err := f.u.Create(ctx, Session{Protocol: "tus", Target: "up/file.bin", Length: int64(len(data)), ContentType: "image/png"})
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(data); off += 7000 {
		end := min(off+7000, len(data))
		if _, err := f.store.Stat(ctx, "up/file.bin"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatal("partial upload visible as a file")
		}
		s, err = f.u.Append(ctx, s.ID, body(int64(off), data[off:end]))
		if err != nil {
			t.Fatalf("append at %d: %v", off, err)
		}
		if s.Offset != int64(end) {
			t.Fatalf("offset %d, want %d", s.Offset, end)
		}
	}
	if !s.Completed || !bytes.Equal(f.stored(t, "up/file.bin"), data) {
		t.Fatal("complete upload not committed intact")
	}
	sum := sha256.Sum256(data)
	meta, _ := f.store.Stat(ctx, "up/file.bin")
	if s.SHA256 != hex.EncodeToString(sum[:]) || meta.SHA256 != s.SHA256 || meta.ContentType != "image/png" {
		t.Fatalf("digest or type wrong: session %s meta %+v", s.SHA256, meta)
	}
	if _, err := f.u.Append(ctx, s.ID, body(s.Offset, []byte("x"))); !errors.Is(err, ErrCompleted) {
		t.Fatalf("append after completion: %v", err)
	}
}

func TestOffsetMismatchWritesNothing(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	s, _ := f.u.Create(ctx, Session{Target: "a", Length: 10})
	f.u.Append(ctx, s.ID, body(0, []byte("abc")))
	_, err := f.u.Append(ctx, s.ID, body(5, []byte("zz")))
	var oe *OffsetError
	if !errors.As(err, &oe) || oe.Expected != 3 || oe.Provided != 5 {
		t.Fatalf("err %v, want offset conflict 3 vs 5", err)
	}
	got, _ := f.u.Get(ctx, s.ID)
	if got.Offset != 3 {
		t.Fatalf("offset moved to %d", got.Offset)
	}
	if f.u.Snapshot().OffsetConflicts != 1 {
		t.Fatal("conflict not counted")
	}
}

func TestLengthRules(t *testing.T) {
	f := newFixture(t, 100)
	ctx := context.Background()
	if _, err := f.u.Create(ctx, Session{Target: "big", Length: 101}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("create over max size: %v", err)
	}
	s, _ := f.u.Create(ctx, Session{Target: "x", Length: 5})
	s, err := f.u.Append(ctx, s.ID, body(0, []byte("123456789")))
	if !errors.Is(err, ErrTooLarge) || s.Offset != 5 {
		t.Fatalf("past the length: err %v offset %d", err, s.Offset)
	}
	// Deferred length: declared later, must not contradict.
	d, _ := f.u.Create(ctx, Session{Target: "d", Length: -1})
	d, err = f.u.Append(ctx, d.ID, body(0, []byte("hello")))
	if err != nil || d.Length != -1 || d.Offset != 5 {
		t.Fatalf("deferred: %v %+v", err, d)
	}
	r := body(5, nil)
	r.Length = 3
	if _, err := f.u.Append(ctx, d.ID, r); !errors.Is(err, ErrLengthMismatch) {
		t.Fatalf("length below offset: %v", err)
	}
	r = body(5, []byte("!"))
	r.Length = 6
	if d, err = f.u.Append(ctx, d.ID, r); err != nil || !d.Completed {
		t.Fatalf("declared length completes: %v %+v", err, d)
	}
	if string(f.stored(t, "d")) != "hello!" {
		t.Fatal("deferred upload content")
	}
	// Upload-Complete: the length is where the data ends.
	c, _ := f.u.Create(ctx, Session{Target: "c", Length: -1})
	r = body(0, []byte("all of it"))
	r.Complete = true
	if c, err = f.u.Append(ctx, c.ID, r); err != nil || !c.Completed || c.Length != 9 {
		t.Fatalf("complete flag: %v %+v", err, c)
	}
}

func TestChecksumMismatchKeepsOffset(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	s, _ := f.u.Create(ctx, Session{Target: "c", Length: 8})
	f.u.Append(ctx, s.ID, body(0, []byte("good")))
	r := body(4, []byte("evil"))
	want := sha1.Sum([]byte("eviL"))
	r.Checksum, r.ChecksumWant = sha1.New(), want[:]
	if _, err := f.u.Append(ctx, s.ID, r); !errors.Is(err, ErrChecksum) {
		t.Fatalf("err %v, want ErrChecksum", err)
	}
	got, _ := f.u.Get(ctx, s.ID)
	if got.Offset != 4 {
		t.Fatalf("offset %d after a bad checksum, want 4", got.Offset)
	}
	r = body(4, []byte("data"))
	want = sha1.Sum([]byte("data"))
	r.Checksum, r.ChecksumWant = sha1.New(), want[:]
	if s, err := f.u.Append(ctx, s.ID, r); err != nil || !s.Completed {
		t.Fatalf("good checksum: %v", err)
	}
	if string(f.stored(t, "c")) != "gooddata" {
		t.Fatalf("stored %q", f.stored(t, "c"))
	}
}

// An interrupted request keeps what it received; the next resumes from there.
func TestInterruptedAppendKeepsBytes(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	s, _ := f.u.Create(ctx, Session{Target: "i", Length: 10})
	r := AppendRequest{Offset: 0, Length: -1, Body: chunktest.Script(func(dst io.Writer, _ int64) (int64, error) {
		n, _ := dst.Write([]byte("12345"))
		return int64(n), io.ErrUnexpectedEOF
	})}
	s, err := f.u.Append(ctx, s.ID, r)
	if !errors.Is(err, io.ErrUnexpectedEOF) || s.Offset != 5 {
		t.Fatalf("interrupted: %v offset %d", err, s.Offset)
	}
	if s, err = f.u.Append(ctx, s.ID, body(5, []byte("67890"))); err != nil || !s.Completed {
		t.Fatalf("resume: %v", err)
	}
	if string(f.stored(t, "i")) != "1234567890" {
		t.Fatal("resumed content wrong")
	}
}

// After a crash the partial file may hold bytes past the recorded offset (written, never
// acknowledged): they are dropped, and the digest still covers exactly the upload.
func TestCrashLeftoversAreDropped(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	s, _ := f.u.Create(ctx, Session{Target: "k", Length: 8})
	f.u.Append(ctx, s.ID, body(0, []byte("abcd")))
	pf, _ := os.OpenFile(filepath.Join(f.dir, "partial", s.ID), os.O_WRONLY|os.O_APPEND, 0)
	pf.Write([]byte("GARBAGE"))
	pf.Close()
	// A fresh Uploads over the same directory, as after a restart.
	ds, _ := NewDirStore(f.store.Root(), true)
	u2 := New(ds, f.store.Backend(), Options{TTL: time.Hour, Now: func() time.Time { return f.now }, Copier: chunktest.Copier{}})
	got, err := u2.Get(ctx, s.ID)
	if err != nil || got.Offset != 4 {
		t.Fatalf("recovered offset %d, %v", got.Offset, err)
	}
	if s, err = u2.Append(ctx, s.ID, body(4, []byte("efgh"))); err != nil || !s.Completed {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("abcdefgh"))
	if string(f.stored(t, "k")) != "abcdefgh" || s.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("stored %q digest %s", f.stored(t, "k"), s.SHA256)
	}
}

// A new request takes a session over from a stalled one at once: the stale one is cut off,
// keeps what it wrote, and the new one sees the final offset.
func TestHandOffCutsStaleWriter(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	s, _ := f.u.Create(ctx, Session{Target: "h", Length: 100})
	started := make(chan struct{})
	cut := make(chan struct{})
	var once sync.Once
	stale := AppendRequest{Offset: 0, Length: -1,
		Body: chunktest.Script(func(dst io.Writer, _ int64) (int64, error) {
			dst.Write([]byte("0123456789"))
			close(started)
			<-cut // a client that went silent
			return 10, ErrHandedOff
		}),
		Cancel: func(error) { once.Do(func() { close(cut) }) },
	}
	done := make(chan error, 1)
	go func() { _, err := f.u.Append(ctx, s.ID, stale); done <- err }()
	<-started
	got, err := f.u.Sync(ctx, s.ID)
	if err != nil || got.Offset != 10 {
		t.Fatalf("after hand-off offset %d, %v; want 10", got.Offset, err)
	}
	if err := <-done; !errors.Is(err, ErrHandedOff) {
		t.Fatalf("stale request ended with %v", err)
	}
	if snap := f.u.Snapshot(); snap.Handoffs != 1 {
		t.Fatalf("hand-offs counted %d", snap.Handoffs)
	}
}

func TestTerminateAndReap(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	a, _ := f.u.Create(ctx, Session{Target: "a", Length: 10})
	b, _ := f.u.Create(ctx, Session{Target: "b", Length: 10})
	done, _ := f.u.Create(ctx, Session{Target: "done", Length: 2})
	f.u.Append(ctx, done.ID, body(0, []byte("ok")))
	if err := f.u.Terminate(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.u.Get(ctx, a.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("terminated upload: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "partial", a.ID)); !os.IsNotExist(err) {
		t.Fatal("terminated upload's data left")
	}
	f.now = f.now.Add(2 * time.Hour)
	if _, err := f.u.Get(ctx, b.ID); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired upload: %v", err)
	}
	n, err := f.u.Reap(ctx)
	if err != nil || n != 2 {
		t.Fatalf("reaped %d, %v; want 2 (one unfinished, one completed state)", n, err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "partial", b.ID)); !os.IsNotExist(err) {
		t.Fatal("expired upload's data left")
	}
	if string(f.stored(t, "done")) != "ok" {
		t.Fatal("reaping a completed session removed its file")
	}
}

func TestConcat(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	var ids []string
	for _, part := range []string{"hello ", "concatenated ", "world"} {
		p, _ := f.u.Create(ctx, Session{Length: int64(len(part)), Partial: true})
		if p2, err := f.u.Append(ctx, p.ID, body(0, []byte(part))); err != nil || !p2.Completed {
			t.Fatalf("partial: %v", err)
		}
		ids = append(ids, p.ID)
	}
	s, err := f.u.Concat(ctx, Session{Target: "cat.txt"}, ids, storage.Meta{ContentType: "text/plain"})
	if err != nil || !s.Completed || s.Length != 24 {
		t.Fatalf("concat: %v %+v", err, s)
	}
	if string(f.stored(t, "cat.txt")) != "hello concatenated world" {
		t.Fatal("concatenated content wrong")
	}
	unfinished, _ := f.u.Create(ctx, Session{Length: 5, Partial: true})
	if _, err := f.u.Concat(ctx, Session{Target: "x"}, []string{ids[0], unfinished.ID}, storage.Meta{}); !errors.Is(err, ErrBadParts) {
		t.Fatalf("concat with an unfinished part: %v", err)
	}
}

func TestSkipDigest(t *testing.T) {
	f := newFixture(t, 0)
	f.u.opts.SkipDigest = true
	ctx := context.Background()
	s, _ := f.u.Create(ctx, Session{Target: "nd.bin", Length: 6})
	f.u.Append(ctx, s.ID, body(0, []byte("abc")))
	s, err := f.u.Append(ctx, s.ID, body(3, []byte("def")))
	if err != nil || !s.Completed || s.SHA256 != "" || len(s.HashState) != 0 {
		t.Fatalf("without a digest: %v %+v", err, s)
	}
	if string(f.stored(t, "nd.bin")) != "abcdef" {
		t.Fatal("content")
	}
}

// A crash after the last append was made durable but before the commit leaves a session at
// its full length: the next look at it (a HEAD) commits it.
func TestSyncFinishesAnInterruptedCommit(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	s, _ := f.u.Create(ctx, Session{Target: "late.bin", Length: 4})
	f.u.Append(ctx, s.ID, body(0, []byte("ab")))
	// Simulate the crash: the data and offset are durable, the file was never linked.
	p, _ := f.store.OpenPartial(storage.PartialRef{ID: s.ID}, false)
	w, _ := p.AppendAt(context.Background(), 2)
	w.Write([]byte("cd"))
	p.Sync()
	p.Close()
	st, _ := f.u.sessions.Get(ctx, s.ID)
	h, _ := restoreHash(st.HashState)
	h.Write([]byte("cd"))
	st.HashState, _ = h.(encoding.BinaryMarshaler).MarshalBinary()
	st.Offset = 4
	f.u.sessions.Put(ctx, st, 0)
	if _, err := f.store.Stat(ctx, "late.bin"); err == nil {
		t.Fatal("file visible before the commit")
	}
	got, err := f.u.Sync(ctx, s.ID)
	if err != nil || !got.Completed || got.SHA256 == "" {
		t.Fatalf("Sync: %v %+v", err, got)
	}
	if string(f.stored(t, "late.bin")) != "abcd" {
		t.Fatal("content")
	}
}

// With preallocation the partial file is reserved to the full length while data arrives, and
// an append that ends short gives the rest back: what is on disk is what was acknowledged.
func TestPreallocatedAppends(t *testing.T) {
	f := newFixtureWith(t, 0, storage.LocalOptions{Fsync: true, Checksum: true, Preallocate: true})
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789"), 10_000)
	s, _ := f.u.Create(ctx, Session{Target: "pre.bin", Length: int64(len(data))})
	var sizeDuring int64
	r := AppendRequest{Offset: 0, Length: -1, Body: chunktest.Script(func(dst io.Writer, _ int64) (int64, error) {
		n, _ := dst.Write(data[:30_000])
		st, _ := os.Stat(filepath.Join(f.dir, "partial", s.ID))
		sizeDuring = st.Size()
		return int64(n), io.ErrUnexpectedEOF
	})}
	s, err := f.u.Append(ctx, s.ID, r)
	if !errors.Is(err, io.ErrUnexpectedEOF) || s.Offset != 30_000 {
		t.Fatalf("short append: %v, offset %d", err, s.Offset)
	}
	if sizeDuring != int64(len(data)) {
		t.Fatalf("partial file %d bytes while copying, want the reserved %d", sizeDuring, len(data))
	}
	if st, _ := os.Stat(filepath.Join(f.dir, "partial", s.ID)); st.Size() != 30_000 {
		t.Fatalf("partial file %d bytes after a short append, want 30000", st.Size())
	}
	if s, err = f.u.Append(ctx, s.ID, body(30_000, data[30_000:])); err != nil || !s.Completed {
		t.Fatalf("rest: %v", err)
	}
	if !bytes.Equal(f.stored(t, "pre.bin"), data) {
		t.Fatal("content differs")
	}
}

// failCompleted is a session store that loses the write recording an upload's completion,
// as a crash right after the commit would.
type failCompleted struct{ SessionStore }

func (f failCompleted) Put(ctx context.Context, s *Session, fence int64) error {
	if s.Completed {
		return errors.New("crash")
	}
	return f.SessionStore.Put(ctx, s, fence)
}

// An upload whose file was committed but whose completion was never recorded (a crash in
// between) completes on the next request, HEAD (Sync) or a retried last request alike: the
// file is its own, and is not taken for another upload's.
func TestCommitBeforeRecordCompletes(t *testing.T) {
	data := bytes.Repeat([]byte("abcdefgh"), 5000)
	for _, next := range []string{"HEAD", "retry"} {
		t.Run(next, func(t *testing.T) {
			dir := t.TempDir()
			st, err := storage.OpenLocal(dir, storage.LocalOptions{Fsync: true, Checksum: true})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			ds, _ := NewDirStore(st.Root(), true)
			ctx := context.Background()
			crashing := New(failCompleted{ds}, st.Backend(), Options{TTL: time.Hour, Copier: chunktest.Copier{}})
			s, err := crashing.Create(ctx, Session{Target: "done.bin", Length: int64(len(data))})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := crashing.Append(ctx, s.ID, body(0, data)); err == nil {
				t.Fatal("the completion's record did not fail")
			}
			restarted := New(ds, st.Backend(), Options{TTL: time.Hour, Copier: chunktest.Copier{}})
			var got *Session
			if next == "HEAD" {
				got, err = restarted.Sync(ctx, s.ID)
			} else {
				got, err = restarted.Append(ctx, s.ID, body(int64(len(data)), nil))
			}
			if err != nil || !got.Completed || got.Offset != int64(len(data)) {
				t.Fatalf("%s after the lost record: %+v, %v; want the upload complete", next, got, err)
			}
			if again, err := restarted.Get(ctx, s.ID); err != nil || !again.Completed {
				t.Fatalf("state after the recovery: %+v, %v", again, err)
			}
			m, err := st.Stat(ctx, "done.bin")
			sum := sha256.Sum256(data)
			if err != nil || m.SHA256 != hex.EncodeToString(sum[:]) {
				t.Fatalf("file %+v, %v", m, err)
			}
		})
	}
}
