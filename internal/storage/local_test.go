package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func openTest(t *testing.T) (*Local, string) {
	t.Helper()
	dir := t.TempDir()
	l, err := OpenLocal(dir, LocalOptions{Fsync: true, Checksum: true, Preallocate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, dir
}

func put(t *testing.T, l *Local, name string, data []byte) (Meta, error) {
	t.Helper()
	w, err := l.Create(context.Background(), name)
	if err != nil {
		return Meta{}, err
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return Meta{}, err
	}
	return w.Commit(context.Background(), Meta{ContentType: "image/png", Uploader: "a@example.org"})
}

func tmpEntries(t *testing.T, dir string) []os.DirEntry {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, tmpDir))
	if err != nil {
		t.Fatal(err)
	}
	return ents
}

func TestCommitIsInvisibleUntilDoneAndKeepsMeta(t *testing.T) {
	l, dir := openTest(t)
	ctx := context.Background()
	w, err := l.Create(ctx, "a/b/c.png")
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("x"), 20<<20+7) // crosses several flush windows
	w.Write(data)
	if _, err := l.Open(ctx, "a/b/c.png"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("partial upload visible: %v", err)
	}
	if w.Written() != int64(len(data)) {
		t.Fatalf("Written = %d", w.Written())
	}
	meta, err := w.Commit(ctx, Meta{ContentType: "image/png"})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if meta.SHA256 != hex.EncodeToString(sum[:]) || meta.Size != int64(len(data)) || meta.Name != "a/b/c.png" {
		t.Fatalf("meta %+v", meta)
	}
	obj, err := l.Open(ctx, "a/b/c.png")
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	if _, ok := obj.Content().(*os.File); !ok {
		t.Error("local content is not an *os.File: sendfile would be lost")
	}
	got, _ := io.ReadAll(obj.Content())
	if !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
	if m := obj.Meta(); m.ContentType != "image/png" || m.SHA256 != meta.SHA256 {
		t.Fatalf("stored meta %+v", m)
	}
	if n := len(tmpEntries(t, dir)); n != 0 {
		t.Fatalf("%d temporary files left", n)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "files/a/b/c.png")); err != nil || len(b) != len(data) {
		t.Fatalf("file not at its path in the data dir: %v", err)
	}
}

func TestNoReplace(t *testing.T) {
	l, _ := openTest(t)
	if _, err := put(t, l, "x.bin", []byte("first")); err != nil {
		t.Fatal(err)
	}
	if _, err := put(t, l, "x.bin", []byte("second")); !errors.Is(err, ErrExists) {
		t.Fatalf("second commit: %v, want ErrExists", err)
	}
	obj, _ := l.Open(context.Background(), "x.bin")
	got, _ := io.ReadAll(obj.Content())
	obj.Close()
	if string(got) != "first" {
		t.Fatalf("original replaced: %q", got)
	}
	// A path component that is a file is a conflict too.
	if _, err := put(t, l, "x.bin/y", []byte("z")); !errors.Is(err, ErrExists) {
		t.Fatalf("under a file: %v, want ErrExists", err)
	}
}

func TestConcurrentCommitsOneWinner(t *testing.T) {
	l, dir := openTest(t)
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = put(t, l, "race/same.bin", bytes.Repeat([]byte{byte('a' + i)}, 1<<20))
		}(i)
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, ErrExists):
			t.Fatalf("unexpected error %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d winners, want 1", wins)
	}
	obj, _ := l.Open(context.Background(), "race/same.bin")
	got, _ := io.ReadAll(obj.Content())
	obj.Close()
	if len(got) != 1<<20 || !bytes.Equal(got, bytes.Repeat(got[:1], 1<<20)) {
		t.Fatal("stored bytes are a mix of uploads")
	}
	if m := obj.Meta(); m.SHA256 == "" {
		t.Fatal("winner's metadata missing")
	} else if sum := sha256.Sum256(got); m.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatal("metadata belongs to a loser")
	}
	if n := len(tmpEntries(t, dir)); n != 0 {
		t.Fatalf("%d temporary files left", n)
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	l, dir := openTest(t)
	w, _ := l.Create(context.Background(), "gone.bin")
	w.Write([]byte("abc"))
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Stat(context.Background(), "gone.bin"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Stat after abort: %v", err)
	}
	if n := len(tmpEntries(t, dir)); n != 0 {
		t.Fatalf("%d temporary files left", n)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("write after abort accepted")
	}
}

func TestMissingSidecarFallsBack(t *testing.T) {
	l, dir := openTest(t)
	meta, err := put(t, l, "m.txt", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, metaPath("m.txt")))
	got, err := l.Stat(context.Background(), "m.txt")
	if err != nil || got.Size != 5 || got.SHA256 != "" || got.Name != "m.txt" {
		t.Fatalf("fallback meta %+v, %v", got, err)
	}
	if got.ETag() == meta.ETag() || got.ETag()[0] != '"' {
		t.Fatalf("fallback ETag %q", got.ETag())
	}
}

func TestDelete(t *testing.T) {
	l, dir := openTest(t)
	put(t, l, "d/e.bin", []byte("1"))
	if err := l.Delete(context.Background(), "d/e.bin"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, metaPath("d/e.bin"))); !os.IsNotExist(err) {
		t.Fatal("sidecar left behind")
	}
	if err := l.Delete(context.Background(), "d/e.bin"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestNamesCannotEscape(t *testing.T) {
	l, dir := openTest(t)
	outside := filepath.Join(filepath.Dir(dir), "outside-"+filepath.Base(dir))
	os.Mkdir(outside, 0o755)
	defer os.RemoveAll(outside)
	// A symlink planted inside storage that points outside must not be followed.
	os.Symlink(outside, filepath.Join(dir, filesDir, "link"))
	for _, name := range []string{"../x", "a/../../x", "/abs", "a\\b", "a\x00b", "", ".", "a//b", "link/x"} {
		if _, err := put(t, l, name, []byte("evil")); err == nil {
			t.Errorf("%q accepted", name)
		}
		if _, err := l.Open(context.Background(), name); err == nil {
			t.Errorf("%q opened", name)
		}
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("wrote outside storage: %v", ents)
	}
}

func TestDirectoriesAreNotFiles(t *testing.T) {
	l, _ := openTest(t)
	put(t, l, "dir/f", []byte("1"))
	if _, err := l.Open(context.Background(), "dir"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("opened a directory: %v", err)
	}
	if _, err := l.Stat(context.Background(), "dir"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stat a directory: %v", err)
	}
}

func TestValidName(t *testing.T) {
	good := []string{"a", "a/b/c.txt", "Grüße файл.png", "a+b %20.bin", "user@host/slot/file", ".hidden"}
	bad := []string{"", "/a", "a/", "a//b", ".", "..", "a/../b", "a/./b", "a\\b", "a\x00", "a\nb", "\xff", string(make([]byte, 1025))}
	for _, n := range good {
		if err := ValidName(n); err != nil {
			t.Errorf("ValidName(%q) = %v", n, err)
		}
	}
	for _, n := range bad {
		if err := ValidName(n); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidName(%q) = %v, want ErrInvalidName", n, err)
		}
	}
}

func FuzzValidName(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "a/./b", "a\\b", "ü/ß", "//"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidName(name) != nil {
			return
		}
		// An accepted name stays inside the tree: cleaning it changes nothing.
		if filepath.IsAbs(name) || filepath.Clean(name) != name || name == ".." || len(name) >= 2 && name[:2] == ".." && (len(name) == 2 || name[2] == '/') {
			t.Fatalf("accepted unsafe name %q", name)
		}
	})
}

func TestUsageFollowsCommitsAndDeletes(t *testing.T) {
	l, _ := openTest(t)
	l.Usage()   // the first call starts the count of a store that does not know it
	<-l.counted // which runs in the background
	put(t, l, "a", []byte("12345"))
	put(t, l, "b/c", []byte("123"))
	if f, b := l.Usage(); f != 2 || b != 8 {
		t.Fatalf("usage %d files %d bytes, want 2, 8", f, b)
	}
	l.Delete(context.Background(), "a")
	if f, b := l.Usage(); f != 1 || b != 3 {
		t.Fatalf("after delete: %d files %d bytes, want 1, 3", f, b)
	}
	l.recount()
	if f, b := l.Usage(); f != 1 || b != 3 {
		t.Fatalf("after recount: %d files %d bytes", f, b)
	}
}

func TestQuotaSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenLocal(dir, LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, _ := l.Create(context.Background(), "q.bin")
	w.Write([]byte("12345"))
	if _, err := w.Commit(context.Background(), Meta{Uploader: "romeo@example.org"}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l2, err := OpenLocal(dir, LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	now := time.Now()
	if got := l2.UsedToday("romeo@example.org", now); got != 5 {
		t.Fatalf("used today after a restart: %d, want 5", got)
	}
	if got := l2.UsedToday("romeo@example.org", now.Add(48*time.Hour)); got != 0 {
		t.Fatalf("used on another day: %d, want 0", got)
	}
}

// Without a clean stop (a crash: the store is never closed) the book reaches the disk
// within about quotaSaveEvery, and a store opened after finds the day's count and holds.
func TestQuotaWrittenWithoutClose(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenLocal(dir, LocalOptions{Fsync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close() // after the checks: until then it is a store that crashed
	now := time.Now()
	l.Charge("romeo@example.org", 5, now)
	if ok, _ := l.Hold("romeo@example.org", "up-1", 90, 100, now, now.Add(time.Hour)); !ok {
		t.Fatal("hold refused")
	}
	deadline := time.Now().Add(10 * quotaSaveEvery)
	for {
		data, _ := os.ReadFile(filepath.Join(dir, quotaFile))
		if bytes.Contains(data, []byte("up-1")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the book never reached the disk: %s", data)
		}
		time.Sleep(20 * time.Millisecond)
	}
	after, err := OpenLocal(dir, LocalOptions{}) // the first is never closed, as in a crash
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	if got := after.UsedToday("romeo@example.org", now); got != 5 {
		t.Fatalf("used today after a crash: %d, want 5", got)
	}
	if ok, _ := after.Hold("romeo@example.org", "up-2", 10, 100, now, now.Add(time.Hour)); ok {
		t.Fatal("the hold taken before the crash was forgotten")
	}
}

// Holds survive a restart, like the day's count: a crash must not hand the room back.
func TestLocalQuotaHoldsPersist(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenLocal(dir, LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if ok, _ := l.Hold("u", "a", 900, 1000, now, now.Add(time.Hour)); !ok {
		t.Fatal("hold refused")
	}
	l.Close()
	if l, err = OpenLocal(dir, LocalOptions{}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if ok, room := l.Hold("u", "b", 200, 1000, now, now.Add(time.Hour)); ok || room != 100 {
		t.Fatalf("after a restart: ok %v room %d, want the first hold still counted (room 100)", ok, room)
	}
}
