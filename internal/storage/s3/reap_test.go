package s3

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"fileserver/internal/storage"
)

// The reaper removes files older than the TTL, reports without removing in a dry run, and
// never touches the data of uploads in progress.
func TestReap(t *testing.T) {
	o := testOptions(t)
	s := openStore(t, o)
	ctx := context.Background()
	for _, name := range []string{"old/a.bin", "b.bin"} {
		if _, err := put(t, s, name, []byte(name), storage.Meta{}); err != nil {
			t.Fatal(err)
		}
	}
	ref := create(t, s, "up-reap", "later.bin")
	ref.State = appendSync(t, s, ref, 0, randomBytes(t, 1000)) // a tail object under PartialDir

	names := func(res storage.ReapResult) []string {
		var n []string
		for _, f := range res.Files {
			n = append(n, f.Name)
		}
		slices.Sort(n)
		return n
	}
	later := time.Now().Add(2 * time.Hour)
	if res, err := s.Reap(ctx, time.Now(), time.Hour, false); err != nil || len(res.Files) != 0 {
		t.Fatalf("reap before the TTL: %v, %v", names(res), err)
	}
	res, err := s.Reap(ctx, later, time.Hour, true)
	if err != nil || !slices.Equal(names(res), []string{"b.bin", "old/a.bin"}) || res.Bytes != 14 {
		t.Fatalf("dry run: %v (%d bytes), %v", names(res), res.Bytes, err)
	}
	if _, err := s.Stat(ctx, "b.bin"); err != nil {
		t.Fatalf("a dry run removed a file: %v", err)
	}
	if res, err := s.Reap(ctx, later, 0, false); err != nil || len(res.Files) != 0 {
		t.Fatalf("reap without a TTL: %v, %v", names(res), err)
	}
	if res, err := s.Reap(ctx, later, time.Hour, false); err != nil || len(res.Files) != 2 {
		t.Fatalf("reap: %v, %v", names(res), err)
	}
	for _, name := range []string{"old/a.bin", "b.bin"} {
		if _, err := s.Stat(ctx, name); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("%s after the reap: %v", name, err)
		}
	}
	if left := partialKeys(t, o); len(left) != 1 {
		t.Fatalf("the upload in progress lost its data: %v", left)
	}
}
