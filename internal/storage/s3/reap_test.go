package s3

import (
	"context"
	"errors"
	"slices"
	"strings"
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

// An object stored with its upload URL's expiry as its own keeps its data, content type and
// other metadata when the reaper drops that expiry. (Which objects qualify is
// storage.URLExpiry's to say; the reaper sees a file's own expiry only on a store that lists
// user metadata, which versitygw does not, so the rewrite is tested directly.)
func TestDropExpiry(t *testing.T) {
	s := openStore(t, testOptions(t))
	ctx := context.Background()
	if _, err := put(t, s, "v3.pdf", []byte("pdf"), storage.Meta{Expires: time.Now().Add(-time.Hour), Uploader: "addr:192.0.2.1", ContentType: "application/pdf"}); err != nil {
		t.Fatal(err)
	}
	info, err := s.stat(ctx, "v3.pdf")
	if err != nil {
		t.Fatal(err)
	}
	info.UserMetadataStripped = map[string]string{}
	for k, v := range info.UserMetadata {
		info.UserMetadataStripped[strings.TrimPrefix(k, "X-Amz-Meta-")] = v
	}
	if err := s.dropExpiry(ctx, info); err != nil {
		t.Fatal(err)
	}
	m, err := s.Stat(ctx, "v3.pdf")
	if err != nil || !m.Expires.IsZero() || m.ContentType != "application/pdf" || m.Uploader != "addr:192.0.2.1" || m.SHA256 == "" {
		t.Fatalf("after the rewrite: %+v, %v; want the metadata without the expiry", m, err)
	}
}
