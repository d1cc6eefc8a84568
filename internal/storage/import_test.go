package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A copy is a file of its own with the old time; a name holding other bytes is ErrExists; a
// crash between the link and the metadata is mended by the next run.
func TestImportCopyConflictAndMend(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenLocal(filepath.Join(dir, "data"), LocalOptions{Checksum: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	src := filepath.Join(dir, "old.bin")
	os.WriteFile(src, []byte("old bytes"), 0o644)
	old := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	os.Chtimes(src, old, old)
	open := func(p string) *os.File {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	if res, err := l.Import(ctx, open(src), "a/copy.bin", Meta{ContentType: "application/x-test"}, true); err != nil || res != Imported {
		t.Fatalf("copy: %v %v", res, err)
	}
	a, _ := os.Stat(src)
	b, _ := os.Stat(filepath.Join(dir, "data", "files", "a", "copy.bin"))
	if os.SameFile(a, b) {
		t.Fatal("a copy shares the inode")
	}
	m, err := l.Stat(ctx, "a/copy.bin")
	if err != nil || !m.Created.Equal(old) || m.ContentType != "application/x-test" || len(m.SHA256) != 64 {
		t.Fatalf("metadata %+v %v", m, err)
	}
	if res, err := l.Import(ctx, open(src), "a/copy.bin", Meta{}, true); err != nil || res != Present {
		t.Fatalf("the same copy again: %v %v", res, err)
	}
	other := filepath.Join(dir, "other.bin")
	os.WriteFile(other, []byte("other bytes"), 0o644)
	if _, err := l.Import(ctx, open(other), "a/copy.bin", Meta{}, false); !errors.Is(err, ErrExists) {
		t.Fatalf("other bytes under a taken name: %v", err)
	}
	// A link whose metadata a crash kept from being written.
	if err := os.Link(src, filepath.Join(dir, "data", "files", "a", "linked.bin")); err != nil {
		t.Fatal(err)
	}
	if res, err := l.Import(ctx, open(src), "a/linked.bin", Meta{ContentType: "text/x-mended"}, false); err != nil || res != Present {
		t.Fatalf("mend: %v %v", res, err)
	}
	if m, _ := l.Stat(ctx, "a/linked.bin"); m.ContentType != "text/x-mended" || !m.Created.Equal(old) {
		t.Fatalf("mended metadata %+v", m)
	}
}
