package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"

	"fileserver/internal/adaptivebuf"
	"fileserver/internal/storage"
)

// appendSync opens an upload's partial data as of state, appends data at offset and syncs,
// the way one resumable request does, and returns the state to record.
func appendSync(t *testing.T, s *Store, ref storage.PartialRef, offset int64, data []byte) []byte {
	t.Helper()
	p, err := s.OpenPartial(ref, false)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	w, err := p.AppendAt(context.Background(), offset)
	if err != nil {
		t.Fatal(err)
	}
	for rest := data; len(rest) > 0; {
		c := min(len(rest), 777_777)
		if _, err := w.Write(rest[:c]); err != nil {
			t.Fatal(err)
		}
		rest = rest[c:]
	}
	if err := p.Sync(); err != nil {
		t.Fatal(err)
	}
	p.Recorded() // as the caller does once the session holds the state
	return p.State()
}

func create(t *testing.T, s *Store, id, name string) storage.PartialRef {
	t.Helper()
	p, err := s.OpenPartial(storage.PartialRef{ID: id, Target: name}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	return storage.PartialRef{ID: id, Target: name, State: p.State()}
}

func commit(t *testing.T, s *Store, ref storage.PartialRef, data []byte) (storage.Meta, error) {
	t.Helper()
	p, err := s.OpenPartial(ref, false)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sum := sha256.Sum256(data)
	return p.Commit(context.Background(), ref.Target, int64(len(data)), storage.Meta{ContentType: "video/mp4", SHA256: hex.EncodeToString(sum[:])})
}

// partialKeys lists the objects kept for uploads in progress.
func partialKeys(t *testing.T, o Options) []string {
	t.Helper()
	c, _ := newClient(o)
	var keys []string
	for obj := range c.ListObjects(context.Background(), o.Bucket, minio.ListObjectsOptions{Prefix: o.Prefix + PartialDir + "/", Recursive: true}) {
		keys = append(keys, obj.Key)
	}
	return keys
}

// An upload is continued by another Store (another node) from the recorded state alone, across
// part boundaries and with tails of every kind, and commits the exact bytes; nothing of the
// partial data is left afterwards.
func TestPartialResumesOnAnotherNode(t *testing.T) {
	o := testOptions(t)
	a, b := openStore(t, o), openStore(t, o)
	for _, tc := range []struct {
		name   string
		pieces []int
	}{
		{"tail-only.bin", []int{1000, 2000}},                                        // never a part: one PutObject
		{"parts/and-tails.bin", []int{MinPartSize + 300_000, 3_000_000, 4_000_000}}, // a part, tails across requests
		{"exact.bin", []int{MinPartSize, MinPartSize}},                              // every request ends on a part
		{"empty.bin", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := create(t, a, "up-"+hex.EncodeToString(randomBytes(t, 4)), tc.name)
			var data []byte
			for i, n := range tc.pieces {
				piece := randomBytes(t, n)
				node := []*Store{a, b}[i%2]
				ref.State = appendSync(t, node, ref, int64(len(data)), piece)
				data = append(data, piece...)
				if got := partialKeys(t, o); len(data)%MinPartSize != 0 && len(got) == 0 {
					t.Fatalf("after %d bytes no tail object is kept", len(data))
				}
			}
			meta, err := commit(t, []*Store{b, a}[len(tc.pieces)%2], ref, data)
			if err != nil {
				t.Fatalf("commit: %v", err)
			}
			back, stored := read(t, a, tc.name)
			if !bytes.Equal(back, data) || meta.Size != int64(len(data)) || stored.ContentType != "video/mp4" || stored.SHA256 != meta.SHA256 {
				t.Fatalf("read back %d bytes (equal %v), meta %+v, stored %+v", len(back), bytes.Equal(back, data), meta, stored)
			}
			assertNoPartials(t, o)
		})
	}
	assertNoUploads(t, o)
}

// assertNoPartials checks that nothing of an upload in progress is left in the bucket.
func assertNoPartials(t *testing.T, o Options) {
	t.Helper()
	if left := partialKeys(t, o); len(left) != 0 {
		t.Fatalf("partial objects left: %v", left)
	}
}

// Data written after the recorded state and then dropped (a checksum mismatch, a failed sync)
// leaves the recorded upload intact: the next request writes over the parts it sent.
func TestPartialTruncateToRecorded(t *testing.T) {
	o := testOptions(t)
	s := openStore(t, o)
	ref := create(t, s, "up-trunc", "trunc.bin")
	first := randomBytes(t, MinPartSize+1234)
	ref.State = appendSync(t, s, ref, 0, first)

	p, err := s.OpenPartial(ref, false)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := p.AppendAt(context.Background(), int64(len(first)))
	w.Write(bytes.Repeat([]byte{0xee}, 2*MinPartSize)) // sends a part of garbage
	if err := p.Truncate(int64(len(first))); err != nil {
		t.Fatal(err)
	}
	if err := p.Truncate(1); err == nil {
		t.Fatal("truncating into recorded data must fail")
	}
	p.Close()

	second := randomBytes(t, MinPartSize+99)
	ref.State = appendSync(t, s, ref, int64(len(first)), second)
	data := append(first, second...)
	if _, err := commit(t, s, ref, data); err != nil {
		t.Fatal(err)
	}
	if back, _ := read(t, s, "trunc.bin"); !bytes.Equal(back, data) {
		t.Fatal("committed bytes differ")
	}
	assertNoUploads(t, o)
}

// A resumable upload to a name that exists meanwhile fails with ErrExists and leaves the
// existing file alone; removing the upload frees its multipart upload and tail.
func TestPartialCommitNoReplaceAndRemove(t *testing.T) {
	o := testOptions(t)
	s := openStore(t, o)
	ref := create(t, s, "up-late", "taken.bin")
	data := randomBytes(t, MinPartSize+10)
	ref.State = appendSync(t, s, ref, 0, data)
	if _, err := put(t, s, "taken.bin", []byte("first"), storage.Meta{}); err != nil {
		t.Fatal(err)
	}
	if _, err := commit(t, s, ref, data); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("commit over an existing file: %v", err)
	}
	if back, _ := read(t, s, "taken.bin"); string(back) != "first" {
		t.Fatalf("existing file now %q", back)
	}
	// A tail written by a sync whose state was never recorded (the node died in between).
	appendSync(t, s, ref, MinPartSize+10, randomBytes(t, 1000))
	if err := s.RemovePartial(ref); err != nil {
		t.Fatal(err)
	}
	assertNoPartials(t, o)
	assertNoUploads(t, o)
}

// No file can be named into the area that holds uploads in progress, so a tail is never
// served, replaced or deleted through the file API.
func TestPartialAreaIsReserved(t *testing.T) {
	o := testOptions(t)
	s := openStore(t, o)
	ctx := context.Background()
	for _, name := range []string{PartialDir, PartialDir + "/up-1/0-x"} {
		if _, err := s.Create(ctx, name); !errors.Is(err, storage.ErrInvalidName) {
			t.Errorf("Create(%q): %v", name, err)
		}
		if _, err := s.Open(ctx, name); !errors.Is(err, storage.ErrInvalidName) {
			t.Errorf("Open(%q): %v", name, err)
		}
		if err := s.Delete(ctx, name); !errors.Is(err, storage.ErrInvalidName) {
			t.Errorf("Delete(%q): %v", name, err)
		}
		if _, err := s.OpenPartial(storage.PartialRef{ID: "up-1", Target: name}, true); !errors.Is(err, storage.ErrInvalidName) {
			t.Errorf("OpenPartial to %q: %v", name, err)
		}
	}
	if _, err := s.OpenPartial(storage.PartialRef{ID: "up-1"}, true); !errors.Is(err, storage.ErrInvalidName) {
		t.Errorf("OpenPartial without a target: %v", err)
	}
}

// Part buffers are reserved from the memory budget: uploads that together would need more
// than the budget take turns, and every byte is given back at the end. Eight uploads of
// unknown length on a budget of three parts: were buffers grown piecemeal, every upload could
// hold part of a buffer while waiting for the rest, and none would ever send a part.
func TestPartBuffersWithinBudget(t *testing.T) {
	o := testOptions(t)
	pool := adaptivebuf.New(adaptivebuf.Options{Budget: 3 * MinPartSize, Policy: adaptivebuf.Wait})
	o.Budget = pool
	s := openStore(t, o)
	var wg sync.WaitGroup
	data := randomBytes(t, 3*MinPartSize+5)
	const uploads = 8
	errs := make(chan error, uploads)
	for i := range uploads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := s.Create(context.Background(), "budget/"+string(rune('a'+i)))
			if err != nil {
				errs <- err
				return
			}
			defer w.Abort()
			for rest := data; len(rest) > 0; rest = rest[min(len(rest), 64<<10):] {
				if _, err := w.Write(rest[:min(len(rest), 64<<10)]); err != nil {
					errs <- err
					return
				}
				if st := pool.Stats(); st.InUse > st.Budget {
					errs <- errors.New("over budget")
					return
				}
			}
			_, err = w.Commit(context.Background(), storage.Meta{})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Eight uploads at a part each would need 40 MiB of the 15: they took turns, never over.
	if st := pool.Stats(); st.InUse != 0 {
		t.Fatalf("pool after the uploads: %+v, want nothing in use", st)
	}
	for i := range uploads {
		if back, _ := read(t, s, "budget/"+string(rune('a'+i))); !bytes.Equal(back, data) {
			t.Fatalf("upload %d differs", i)
		}
	}
}

// What a partial wrote that no recorded state names is its own to clean up: a multipart
// upload started by a request whose session write then failed, or by a plain PUT whose name
// turned out to be taken, and a tail no recorded state names once the upload completes.
func TestPartialCleansUpWhatNobodyRecorded(t *testing.T) {
	o := testOptions(t)
	s := openStore(t, o)
	ctx := context.Background()
	open := func(ref storage.PartialRef, create bool) storage.Partial {
		t.Helper()
		p, err := s.OpenPartial(ref, create)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	write := func(p storage.Partial, off int64, data []byte) {
		t.Helper()
		w, err := p.AppendAt(ctx, off)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}

	// Synced, but the session write failed: the new multipart upload goes on Close.
	ref := create(t, s, "up-unrecorded", "unrecorded.bin")
	p := open(ref, false)
	write(p, 0, randomBytes(t, MinPartSize+100))
	if err := p.Sync(); err != nil {
		t.Fatal(err)
	}
	p.Close()
	assertNoUploads(t, o)

	// The retry is recorded and completes; the tail of the failed attempt goes too.
	data := randomBytes(t, MinPartSize+200)
	ref.State = appendSync(t, s, ref, 0, data)
	if _, err := commit(t, s, ref, data); err != nil {
		t.Fatal(err)
	}
	assertNoPartials(t, o)

	// A plain PUT (never synced) to a name taken meanwhile.
	if _, err := put(t, s, "taken-put.bin", []byte("first"), storage.Meta{}); err != nil {
		t.Fatal(err)
	}
	p = open(storage.PartialRef{ID: "put-taken", Target: "taken-put.bin"}, true)
	data = randomBytes(t, 2*MinPartSize+10)
	write(p, 0, data)
	if _, err := p.Commit(ctx, "taken-put.bin", int64(len(data)), storage.Meta{}); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("commit to a taken name: %v", err)
	}
	p.Close()
	assertNoUploads(t, o)
}
