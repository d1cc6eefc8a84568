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

// A file stored with its upload URL's expiry as its own (an earlier version did that for v3
// URLs: the uploader is an address) is kept, and its expiry dropped once; a token's file
// lifetime (the uploader is a JID) still removes its file.
func TestReapKeepsFilesWithTheirURLsExpiry(t *testing.T) {
	l, _ := openTest(t)
	ctx := context.Background()
	past := time.Now().Add(-time.Hour)
	for name, m := range map[string]Meta{
		"v3.pdf":    {Uploader: "addr:192.0.2.1"},
		"token.jpg": {Uploader: "juliet@example.org"},
		// A token without a sub names the client's address: its expiry is marked a token's.
		"nosub.jpg": {Uploader: "addr:192.0.2.2", ExpiresBy: ExpiresByToken},
	} {
		w, err := l.Create(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(name))
		m.Expires, m.ContentType = past, "application/pdf"
		if _, err := w.Commit(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	dry, err := l.Reap(ctx, time.Now(), 0, true)
	if err != nil || len(dry.Kept) != 1 || len(dry.Files) != 2 {
		t.Fatalf("dry run: kept %v, removed %v, %v", dry.Kept, dry.Files, err)
	}
	if m, _ := l.Stat(ctx, "v3.pdf"); m.Expires.IsZero() {
		t.Fatal("a dry run rewrote metadata")
	}
	res, err := l.Reap(ctx, time.Now(), 0, false)
	if err != nil || len(res.Kept) != 1 || res.Kept[0] != "v3.pdf" {
		t.Fatalf("reap: kept %v, %v", res.Kept, err)
	}
	m, err := l.Stat(ctx, "v3.pdf")
	if err != nil || !m.Expires.IsZero() || m.ContentType != "application/pdf" || m.Uploader != "addr:192.0.2.1" {
		t.Fatalf("after the fix: %+v, %v; want the file, its metadata, no expiry", m, err)
	}
	if _, err := l.Stat(ctx, "token.jpg"); err == nil {
		t.Fatal("a token's expired file was kept")
	}
	if again, _ := l.Reap(ctx, time.Now(), 0, false); len(again.Kept) != 0 {
		t.Fatalf("the fix ran twice: %v", again.Kept)
	}
}
