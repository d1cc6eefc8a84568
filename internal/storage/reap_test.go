package storage

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

func TestReapMixedAges(t *testing.T) {
	l, dir := openTest(t)
	ctx := context.Background()
	now := time.Now()
	mk := func(name string, expires time.Time) {
		w, err := l.Create(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(name))
		if _, err := w.Commit(ctx, Meta{Expires: expires}); err != nil {
			t.Fatal(err)
		}
	}
	mk("keep/forever.txt", time.Time{})
	mk("gone/soon/expired.txt", now.Add(-time.Minute))   // its own expiry passed
	mk("keep/later.txt", now.Add(time.Hour))             // not yet
	mk("old/by-ttl.txt", time.Time{})                    // aged out by the TTL below
	mk("tok/token-expired.txt", now.Add(-1*time.Second)) // per-file expiry beats a long TTL
	os.Chtimes(filepath.Join(dir, "files/old/by-ttl.txt"), now.Add(-48*time.Hour), now.Add(-48*time.Hour))
	// The sidecar records the commit time; age it too, as if written two days ago.
	m, _ := l.Stat(ctx, "old/by-ttl.txt")
	m.Created = now.Add(-48 * time.Hour)
	l.writeMeta(m)

	// An upload in progress and a symlink to a directory outside storage.
	p, _ := l.OpenPartial(PartialRef{ID: "inprogress"}, true)
	p.Close()
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "precious.txt"), []byte("x"), 0o600)
	os.Symlink(outside, filepath.Join(dir, "files", "escape"))
	os.Symlink(filepath.Join(outside, "precious.txt"), filepath.Join(dir, "files", "keep", "link.txt"))
	// A crash's leftover in tmp/.
	os.WriteFile(filepath.Join(dir, "tmp", "leftover"), []byte("x"), 0o600)
	os.Chtimes(filepath.Join(dir, "tmp", "leftover"), now.Add(-72*time.Hour), now.Add(-72*time.Hour))

	dry, err := l.Reap(ctx, now, 24*time.Hour, true)
	if err != nil {
		t.Fatal(err)
	}
	names := func(r ReapResult) []string {
		var n []string
		for _, f := range r.Files {
			n = append(n, f.Name)
		}
		sort.Strings(n)
		return n
	}
	want := []string{"gone/soon/expired.txt", "old/by-ttl.txt", "tok/token-expired.txt"}
	if got := names(dry); !equal(got, want) {
		t.Fatalf("dry run lists %v, want %v", got, want)
	}
	if _, err := l.Stat(ctx, "gone/soon/expired.txt"); err != nil {
		t.Fatal("dry run removed a file")
	}
	res, err := l.Reap(ctx, now, 24*time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(res); !equal(got, want) {
		t.Fatalf("reaped %v, want %v", got, want)
	}
	for _, n := range want {
		if _, err := l.Stat(ctx, n); err == nil {
			t.Errorf("%s survived", n)
		}
	}
	for _, n := range []string{"keep/forever.txt", "keep/later.txt"} {
		if _, err := l.Stat(ctx, n); err != nil {
			t.Errorf("%s was removed", n)
		}
	}
	for _, p := range []string{"files/gone", "files/old"} {
		if _, err := os.Stat(filepath.Join(dir, p)); !os.IsNotExist(err) {
			t.Errorf("empty directory %s not pruned", p)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "partial", "inprogress")); err != nil {
		t.Error("an upload in progress was touched")
	}
	if _, err := os.Stat(filepath.Join(outside, "precious.txt")); err != nil {
		t.Error("a file outside storage was removed through a symlink")
	}
	if _, err := os.Lstat(filepath.Join(dir, "files", "escape")); err != nil {
		t.Error("the reaper removed a symlink it should have left alone")
	}
	if res.TempRemoved != 1 {
		t.Errorf("temporary leftovers removed: %d, want 1", res.TempRemoved)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
