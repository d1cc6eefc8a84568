package storage

import (
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

func commitBytes(t *testing.T, l *Local, name string, data []byte, meta Meta) Meta {
	t.Helper()
	w, err := l.Create(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	m, err := w.Commit(context.Background(), meta)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func inode(t *testing.T, dir, name string) (ino, nlink uint64) {
	t.Helper()
	st, err := os.Stat(filepath.Join(dir, "files", name))
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	return sys.Ino, uint64(sys.Nlink)
}

func readAll(t *testing.T, l *Local, name string) []byte {
	t.Helper()
	o, err := l.Open(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	b, _ := io.ReadAll(o.Content())
	return b
}

// Two uploads of one content are one inode with two links, each name with its own metadata;
// expiring one leaves the other whole. Another content, or the same digest at another
// size, is stored apart.
func TestDedupLinksSameContent(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenLocal(dir, LocalOptions{Checksum: true, Dedup: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	data := make([]byte, 100_000)
	rand.Read(data)
	a := commitBytes(t, l, "a/photo.jpg", data, Meta{ContentType: "image/jpeg", Uploader: "alice@example.org"})
	time.Sleep(10 * time.Millisecond)
	b := commitBytes(t, l, "b/forwarded.jpg", data, Meta{ContentType: "image/jpeg", Uploader: "bob@example.org", Expires: time.Now().Add(time.Hour)})
	inoA, n := inode(t, dir, "a/photo.jpg")
	inoB, _ := inode(t, dir, "b/forwarded.jpg")
	if inoA != inoB || n != 2 {
		t.Fatalf("inodes %d and %d, %d links: want one inode with two links", inoA, inoB, n)
	}
	if files, bytes := l.Deduplicated(); files != 1 || bytes != int64(len(data)) {
		t.Errorf("Deduplicated: %d files, %d bytes", files, bytes)
	}
	sa, _ := l.Stat(context.Background(), "a/photo.jpg")
	sb, _ := l.Stat(context.Background(), "b/forwarded.jpg")
	if sa.Uploader != "alice@example.org" || sb.Uploader != "bob@example.org" || !sa.Expires.IsZero() || sb.Expires.IsZero() ||
		!sb.Created.After(sa.Created) || sb.SHA256 != a.SHA256 || b.Created.Before(a.Created) {
		t.Errorf("each name keeps its own metadata: %+v / %+v", sa, sb)
	}
	// b expires (its own lifetime); a keeps its bytes.
	res, err := l.Reap(context.Background(), time.Now().Add(2*time.Hour), 0, false)
	if err != nil || len(res.Files) != 1 || res.Files[0].Name != "b/forwarded.jpg" {
		t.Fatalf("reap: %+v %v", res, err)
	}
	if got := readAll(t, l, "a/photo.jpg"); string(got) != string(data) {
		t.Fatal("a/photo.jpg changed after b expired")
	}
	if _, n := inode(t, dir, "a/photo.jpg"); n != 1 {
		t.Errorf("%d links after the reap, want 1", n)
	}
	// The content index names a file that is gone: the next upload of that content, after a
	// is removed too, is stored as a file of its own.
	if err := l.Delete(context.Background(), "a/photo.jpg"); err != nil {
		t.Fatal(err)
	}
	commitBytes(t, l, "c/again.jpg", data, Meta{})
	if _, n := inode(t, dir, "c/again.jpg"); n != 1 {
		t.Errorf("a link to a removed file? %d links", n)
	}
	other := append([]byte(nil), data...)
	other[0] ^= 1
	commitBytes(t, l, "d/other.jpg", other, Meta{})
	inoC, _ := inode(t, dir, "c/again.jpg")
	inoD, _ := inode(t, dir, "d/other.jpg")
	if inoC == inoD {
		t.Error("different content shares an inode")
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(entries) != 0 {
		t.Errorf("temporary files left: %v", entries)
	}
}

// Without Dedup nothing is linked.
func TestNoDedupByDefault(t *testing.T) {
	dir := t.TempDir()
	l, _ := OpenLocal(dir, LocalOptions{Checksum: true})
	defer l.Close()
	commitBytes(t, l, "x/1", []byte("same"), Meta{})
	commitBytes(t, l, "x/2", []byte("same"), Meta{})
	if _, n := inode(t, dir, "x/2"); n != 1 {
		t.Fatalf("%d links without Dedup", n)
	}
}

// BenchmarkCommit4KiB is what deduplication adds to a small upload's commit (the lookup, and
// the index entry of new content), with fsync off so that nothing hides it; and what a
// duplicate's commit costs instead.
func BenchmarkCommit4KiB(b *testing.B) {
	for _, c := range []struct {
		name         string
		dedup, fsync bool
		same         bool
	}{
		{"dedup=off", false, false, false}, {"dedup=on/new", true, false, false}, {"dedup=on/duplicate", true, false, true},
		{"fsync/dedup=off", false, true, false}, {"fsync/dedup=on/duplicate", true, true, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			l, err := OpenLocal(b.TempDir(), LocalOptions{Checksum: true, Dedup: c.dedup, Fsync: c.fsync})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			data := make([]byte, 4096)
			rand.Read(data)
			ctx := context.Background()
			i := 0
			for b.Loop() {
				if !c.same {
					rand.Read(data[:16])
				}
				w, _ := l.Create(ctx, "b/"+strconv.Itoa(i))
				w.Write(data)
				if _, err := w.Commit(ctx, Meta{}); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// A removal tells its listeners the file's metadata, and the content index forgets a content
// whose name it held: removing every file leaves no index entry behind, and removing a name
// the index does not hold leaves the entry that names its twin.
func TestDeleteTellsWhatWentAndPrunesIndex(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenLocal(dir, LocalOptions{Checksum: true, Dedup: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var got []Removed
	l.OnDelete(func(r Removed) { got = append(got, r) })
	data := make([]byte, 10_000)
	rand.Read(data)
	a := commitBytes(t, l, "a/photo.jpg", data, Meta{ContentType: "image/jpeg"})
	commitBytes(t, l, "b/forwarded.jpg", data, Meta{ContentType: "image/jpeg"})
	other := commitBytes(t, l, "c/other.bin", []byte("other bytes"), Meta{})
	entry := filepath.Join(dir, filepath.FromSlash(contentPath(a.SHA256)))
	indexed := func() string {
		b, err := os.ReadFile(entry)
		if err != nil {
			return ""
		}
		return string(b)
	}
	if indexed() != "a/photo.jpg" {
		t.Fatalf("index names %q, want the first copy", indexed())
	}

	ctx := context.Background()
	if err := l.Delete(ctx, "b/forwarded.jpg"); err != nil { // the twin the index does not name
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "b/forwarded.jpg" || got[0].Meta.SHA256 != a.SHA256 || got[0].Meta.ContentType != "image/jpeg" {
		t.Fatalf("first removal told %+v; want its metadata", got)
	}
	if indexed() != "a/photo.jpg" {
		t.Fatalf("index names %q after the twin went; want the first copy still", indexed())
	}
	if err := l.Delete(ctx, "a/photo.jpg"); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Meta.SHA256 != a.SHA256 {
		t.Fatalf("second removal told %+v", got[1:])
	}
	if _, err := os.Stat(entry); !os.IsNotExist(err) {
		t.Fatalf("index entry of a content no file holds: %v", err)
	}
	if err := l.Delete(ctx, "c/other.bin"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(contentPath(other.SHA256)))); !os.IsNotExist(err) {
		t.Fatalf("index entry of a removed file: %v", err)
	}
	// Nothing of the index is left but its directories.
	filepath.WalkDir(filepath.Join(dir, "index", "content"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("left in the content index: %s", p)
		}
		return nil
	})
}

// A commit to a name just deleted keeps its metadata: Delete removes the sidecar before the
// file (while the file is there, the commit is refused), never after a newer upload wrote
// one. Simulated by committing from the delete's listener, that is, after the file went.
func TestDeleteLeavesNewerCommitsSidecar(t *testing.T) {
	l, err := OpenLocal(t.TempDir(), LocalOptions{Checksum: true, Dedup: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	commitBytes(t, l, "x/photo.jpg", []byte("old bytes"), Meta{ContentType: "image/jpeg"})
	expires := time.Now().Add(time.Hour).Truncate(time.Second)
	once := false
	l.OnDelete(func(Removed) {
		if !once {
			once = true
			commitBytes(t, l, "x/photo.jpg", []byte("new bytes, other"), Meta{ContentType: "image/png", Expires: expires})
		}
	})
	if err := l.Delete(ctx, "x/photo.jpg"); err != nil {
		t.Fatal(err)
	}
	m, err := l.Stat(ctx, "x/photo.jpg")
	if err != nil || m.Derived || m.ContentType != "image/png" || !m.Expires.Equal(expires) {
		t.Fatalf("the newer upload's metadata: %+v %v", m, err)
	}
}
