package s3

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"fileserver/internal/storage"
)

func reapedNames(res storage.ReapResult) []string {
	var n []string
	for _, f := range res.Files {
		n = append(n, f.Name)
	}
	slices.Sort(n)
	return n
}

func markerKeys(t *testing.T, o Options) []string {
	t.Helper()
	c, _ := newClient(o)
	var keys []string
	for obj := range c.ListObjects(context.Background(), o.Bucket, minio.ListObjectsOptions{Prefix: o.Prefix + IndexDir + "/expiry/", Recursive: true}) {
		keys = append(keys, strings.TrimPrefix(obj.Key, o.Prefix+IndexDir+"/expiry/"))
	}
	return keys
}

// putBehind writes an object straight into the bucket with fileserver's metadata, as an
// earlier version did, with no markers.
func putBehind(t *testing.T, o Options, name string, expires time.Time) {
	t.Helper()
	c, _ := newClient(o)
	meta := map[string]string{}
	if !expires.IsZero() {
		meta[metaExpires] = expires.UTC().Format(time.RFC3339Nano)
		meta[metaExpiresBy] = storage.ExpiresByToken
	}
	if _, err := c.PutObject(context.Background(), o.Bucket, o.Prefix+name, bytes.NewReader([]byte(name)), int64(len(name)),
		minio.PutObjectOptions{UserMetadata: meta}); err != nil {
		t.Fatal(err)
	}
}

// After an upgrade the first pass lists the bucket and writes the markers of what it keeps
// (own expiries read with a HEAD, as versitygw lists no metadata); later passes read the
// markers only: an object without markers is not seen any more, due ones are removed with
// their markers, markers of objects removed otherwise go when their hour comes.
func TestReapByIndex(t *testing.T) {
	o := testOptions(t)
	s := openStore(t, o)
	ctx := context.Background()
	now := time.Now()
	putBehind(t, o, "old/plain.bin", time.Time{})
	putBehind(t, o, "old/owned.bin", now.Add(30*time.Minute))
	if res, err := s.Reap(ctx, now, 0, true); err != nil || len(res.Files) != 0 || len(markerKeys(t, o)) != 0 {
		t.Fatalf("a dry run before the index exists: %v %v, markers %v", reapedNames(res), err, markerKeys(t, o))
	}
	if res, err := s.Reap(ctx, now, 0, false); err != nil || len(res.Files) != 0 {
		t.Fatalf("the first pass: %v %v", reapedNames(res), err)
	}
	if m := markerKeys(t, o); len(m) != 3 {
		t.Fatalf("markers after the first pass: %v, want c for both and e for old/owned.bin", m)
	}
	if built, err := s.indexBuilt(ctx); !built || err != nil {
		t.Fatalf("index built %v %v", built, err)
	}
	for _, n := range []string{"new/plain.bin", "new/gone.bin"} {
		if _, err := put(t, s, n, []byte(n), storage.Meta{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := put(t, s, "new/owned.bin", []byte("x"), storage.Meta{Expires: now.Add(20 * time.Minute), ExpiresBy: storage.ExpiresByToken}); err != nil {
		t.Fatal(err)
	}
	putBehind(t, o, "unindexed.bin", time.Time{}) // written behind the server's back
	if err := s.Delete(ctx, "new/gone.bin"); err != nil {
		t.Fatal(err)
	}
	res, err := s.Reap(ctx, now.Add(45*time.Minute), 0, true)
	if got := reapedNames(res); err != nil || !slices.Equal(got, []string{"new/owned.bin", "old/owned.bin"}) {
		t.Fatalf("dry run at +45 min without a TTL: %v %v", got, err)
	}
	if _, err := s.Stat(ctx, "old/owned.bin"); err != nil {
		t.Fatalf("a dry run removed a file: %v", err)
	}
	if res, err := s.Reap(ctx, now.Add(45*time.Minute), 0, false); err != nil || len(res.Files) != 2 {
		t.Fatalf("reap at +45 min: %v %v", reapedNames(res), err)
	}
	res, err = s.Reap(ctx, now.Add(3*time.Hour), time.Hour, false)
	if got := reapedNames(res); err != nil || !slices.Equal(got, []string{"new/plain.bin", "old/plain.bin"}) {
		t.Fatalf("reap at +3 h with a 1 h TTL: %v %v", got, err)
	}
	// Every marker went with its object, or as the marker of an object removed otherwise
	// (new/gone.bin).
	if m := markerKeys(t, o); len(m) != 0 {
		t.Fatalf("markers left: %v", m)
	}
	if _, err := s.Stat(ctx, "unindexed.bin"); err != nil {
		t.Fatalf("an object without markers was reaped (the pass listed the bucket): %v", err)
	}
}

// The index's keys are no file names.
func TestIndexDirReserved(t *testing.T) {
	s := openStore(t, testOptions(t))
	for _, n := range []string{IndexDir, IndexDir + "/expiry/c/1/x"} {
		if _, err := s.Create(context.Background(), n); !errors.Is(err, storage.ErrInvalidName) {
			t.Errorf("Create(%q): %v", n, err)
		}
	}
}

// A name too long for its markers' keys is refused before its body; an object whose stored
// expiry was rewritten (a new Last-Modified) gets a creation marker of its new hour.
func TestIndexKeysAndRewrittenObjects(t *testing.T) {
	o := testOptions(t)
	s := openStore(t, o)
	ctx := context.Background()
	long := strings.Repeat("n", s.markerRoom()+1)
	if _, err := s.Create(ctx, long); !errors.Is(err, storage.ErrInvalidName) {
		t.Fatalf("a name too long for the index: %v", err)
	}
	if _, err := put(t, s, "r/old.bin", []byte("x"), storage.Meta{}); err != nil {
		t.Fatal(err)
	}
	s.Reap(ctx, time.Now(), 0, false) // builds the index
	// The object's creation marker moved to an hour long before its Last-Modified, as a
	// metadata rewrite leaves it on stores that renew Last-Modified on a copy.
	c, _ := newClient(o)
	oldKey := s.markerKey("c", time.Now(), "r/old.bin")
	earlier := s.markerKey("c", time.Now().Add(-72*time.Hour), "r/old.bin")
	if _, err := c.CopyObject(ctx, minio.CopyDestOptions{Bucket: o.Bucket, Object: earlier}, minio.CopySrcOptions{Bucket: o.Bucket, Object: oldKey}); err != nil {
		t.Fatal(err)
	}
	c.RemoveObject(ctx, o.Bucket, oldKey, minio.RemoveObjectOptions{})
	if _, err := s.Reap(ctx, time.Now(), time.Hour, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StatObject(ctx, o.Bucket, oldKey, minio.StatObjectOptions{}); err != nil {
		t.Fatalf("no creation marker of the object's own hour after the stale one went: %v", err)
	}
	if res, err := s.Reap(ctx, time.Now().Add(3*time.Hour), time.Hour, false); err != nil || len(res.Files) != 1 {
		t.Fatalf("the object is not reaped when due: %+v %v", res, err)
	}
}
