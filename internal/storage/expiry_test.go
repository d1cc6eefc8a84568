package storage

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// commitFile stores name with its own expiry (zero: none).
func commitFile(t *testing.T, l *Local, name string, expires time.Time) {
	t.Helper()
	w, err := l.Create(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(name))
	if _, err := w.Commit(context.Background(), Meta{Expires: expires}); err != nil {
		t.Fatal(err)
	}
}

func reapedNames(r ReapResult) []string {
	var n []string
	for _, f := range r.Files {
		n = append(n, f.Name)
	}
	sort.Strings(n)
	return n
}

// After the first whole pass, a pass reads only the index: it finds what expired since, by
// TTL and by a file's own expiry, leaves the rest, and does not look at files it has no
// due record for.
func TestReapReadsTheExpiryIndex(t *testing.T) {
	l, dir := openTest(t)
	ctx := context.Background()
	now := time.Now()
	commitFile(t, l, "before/index.txt", time.Time{})
	if res, err := l.Reap(ctx, now, 24*time.Hour, false); err != nil || len(res.Files) != 0 || !l.indexed() {
		t.Fatalf("first pass: %v, %v, indexed %v", res.Files, err, l.indexed())
	}
	commitFile(t, l, "own/soon.txt", now.Add(2*time.Hour))
	commitFile(t, l, "own/later.txt", now.Add(20*time.Hour))
	commitFile(t, l, "plain.txt", time.Time{})
	// A file the index knows nothing of (copied in by hand, say) is not the indexed pass's
	// to find: proof that it does not walk.
	os.WriteFile(filepath.Join(dir, "files", "unindexed.txt"), []byte("x"), 0o640)
	old := now.Add(-96 * time.Hour)
	os.Chtimes(filepath.Join(dir, "files", "unindexed.txt"), old, old)

	if res, err := l.Reap(ctx, now.Add(time.Hour), 24*time.Hour, false); err != nil || len(res.Files) != 0 {
		t.Fatalf("an hour on: removed %v, %v; want nothing", res.Files, err)
	}
	dry, err := l.Reap(ctx, now.Add(3*time.Hour), 24*time.Hour, true)
	if got := reapedNames(dry); err != nil || !equal(got, []string{"own/soon.txt"}) {
		t.Fatalf("dry run three hours on: %v, %v", got, err)
	}
	res, err := l.Reap(ctx, now.Add(3*time.Hour), 24*time.Hour, false)
	if got := reapedNames(res); err != nil || !equal(got, []string{"own/soon.txt"}) {
		t.Fatalf("three hours on: %v, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "files", "own")); err != nil {
		t.Fatal("a directory that still holds a file was pruned")
	}
	res, err = l.Reap(ctx, now.Add(21*time.Hour), 24*time.Hour, false)
	if got := reapedNames(res); err != nil || !equal(got, []string{"own/later.txt"}) {
		t.Fatalf("21 hours on: %v, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "files", "own")); !os.IsNotExist(err) {
		t.Fatal("the directory a removal emptied was not pruned")
	}
	res, err = l.Reap(ctx, now.Add(26*time.Hour), 24*time.Hour, false)
	want := []string{"before/index.txt", "plain.txt"}
	if got := reapedNames(res); err != nil || !equal(got, want) {
		t.Fatalf("a day on: %v, %v; want %v", got, err, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "files", "unindexed.txt")); err != nil {
		t.Fatal("the indexed pass walked the tree")
	}
	// Every log whose records were all due is gone.
	logs, _ := os.ReadDir(filepath.Join(dir, indexDir))
	for _, e := range logs {
		t.Errorf("log %s kept after all its records were handled", e.Name())
	}
}

// A record is a hint: a name removed and uploaded again since has a newer record, and the
// old one does not remove the new file before its time.
func TestReapIndexChecksTheFileItself(t *testing.T) {
	l, _ := openTest(t)
	ctx := context.Background()
	now := time.Now()
	l.Reap(ctx, now, time.Hour, false) // builds the (empty) index
	commitFile(t, l, "again.txt", now.Add(30*time.Minute))
	if err := l.Delete(ctx, "again.txt"); err != nil {
		t.Fatal(err)
	}
	commitFile(t, l, "again.txt", now.Add(48*time.Hour))
	res, err := l.Reap(ctx, now.Add(2*time.Hour), 0, false)
	if err != nil || len(res.Files) != 0 {
		t.Fatalf("removed %v, %v: the old record removed the new upload", res.Files, err)
	}
	if _, err := l.Stat(ctx, "again.txt"); err != nil {
		t.Fatal(err)
	}
}

// The first pass over a store that has files but no index walks them all and records them:
// what it keeps is found by the passes after it, which read the index only.
func TestFirstPassBuildsTheIndex(t *testing.T) {
	l, dir := openTest(t)
	ctx := context.Background()
	now := time.Now()
	commitFile(t, l, "a.txt", time.Time{})
	commitFile(t, l, "b/c.txt", now.Add(10*time.Hour))
	// An upgrade: the files were stored by a version without the index.
	os.RemoveAll(filepath.Join(dir, "index"))
	if _, err := l.Reap(ctx, now, 0, true); err != nil || l.indexed() {
		t.Fatalf("a dry run marked the index built (%v)", err)
	}
	if _, err := l.Reap(ctx, now, 0, false); err != nil || !l.indexed() {
		t.Fatalf("first pass: %v, indexed %v", err, l.indexed())
	}
	os.WriteFile(filepath.Join(dir, "files", "unindexed.txt"), []byte("x"), 0o640)
	res, err := l.Reap(ctx, now.Add(11*time.Hour), time.Hour, false)
	want := []string{"a.txt", "b/c.txt"}
	if got := reapedNames(res); err != nil || !equal(got, want) {
		t.Fatalf("after the build: %v, %v; want %v", got, err, want)
	}
}

// Records survive what a crash leaves: a torn last line is skipped, the records before it
// are read.
func TestExpiryLogTornLine(t *testing.T) {
	l, dir := openTest(t)
	ctx := context.Background()
	now := time.Now()
	l.Reap(ctx, now, 0, false)
	commitFile(t, l, "x.txt", now.Add(time.Minute))
	logs, _ := filepath.Glob(filepath.Join(dir, indexDir, "e-*.log"))
	if len(logs) != 1 {
		t.Fatalf("e-logs: %v", logs)
	}
	// Lines nobody should trust: names that lead out of the files tree (a log is data in the
	// data directory, and another process writes it), then a torn last line.
	outside := filepath.Join(t.TempDir(), "precious.txt")
	os.WriteFile(outside, []byte("x"), 0o600)
	os.Symlink(outside, filepath.Join(dir, "files", "link.txt"))
	f, _ := os.OpenFile(logs[0], os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"n":"../meta","c":1,"e":1}` + "\n" + `{"n":"/etc/hostname","c":1,"e":1}` + "\n" +
		`{"n":"link.txt","c":1,"e":1}` + "\n" + `{"n":"y.t`)
	f.Close()
	res, err := l.Reap(ctx, now.Add(2*time.Hour), 0, false)
	if got := reapedNames(res); err != nil || !equal(got, []string{"x.txt"}) {
		t.Fatalf("%v, %v", got, err)
	}
	for _, p := range []string{outside, filepath.Join(dir, "meta"), filepath.Join(dir, "files", "link.txt")} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("a record leading out of the files tree removed %s", p)
		}
	}
}

// A clean stop leaves the usage count for the next start, which then walks nothing; a crash
// (no count left) or a removal by a process that did not know the count makes the holder
// count again.
func TestUsageKeptAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	open := func() *Local {
		l, err := OpenLocal(dir, LocalOptions{Fsync: true})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := open()
	l.Usage()
	<-l.counted
	put(t, l, "a", []byte("12345"))
	put(t, l, "b", []byte("678"))
	l.Close()

	l = open()
	if !l.usageKnown.Load() {
		t.Fatal("the count a clean stop left was not taken over")
	}
	if f, b := l.Usage(); f != 2 || b != 8 {
		t.Fatalf("after a clean restart: %d files %d bytes, want 2, 8", f, b)
	}
	if _, err := os.Stat(filepath.Join(dir, usageFile)); !os.IsNotExist(err) {
		t.Fatal("the count file stays while the store is open: a crash would leave it stale")
	}

	// fileserver gc beside the running store: it does not know the count, removes a file,
	// and tells.
	other := open()
	if other.usageKnown.Load() {
		t.Fatal("a second process took over a count the first holds")
	}
	commitless := time.Now().Add(48 * time.Hour)
	if res, err := other.Reap(context.Background(), commitless, time.Hour, false); err != nil || len(res.Files) != 2 {
		t.Fatalf("gc: %v, %v", res.Files, err)
	}
	other.Close()
	if _, err := os.Stat(filepath.Join(dir, usageFile)); !os.IsNotExist(err) {
		t.Fatal("a process that did not know the count left one")
	}
	// The holder's next pass counts again.
	l.Reap(context.Background(), time.Now(), time.Hour, false)
	deadline := time.Now().Add(10 * time.Second)
	for f, _ := l.Usage(); f != 0; f, _ = l.Usage() {
		if time.Now().After(deadline) {
			t.Fatalf("still %d files counted after another process removed them all", f)
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.Close()
	if !strings.Contains(readFile(t, filepath.Join(dir, usageFile)), `"files":0`) {
		t.Fatal("the recounted figures were not kept")
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The first pass over an empty store builds an empty index without complaint.
func TestFirstPassOnEmptyStore(t *testing.T) {
	l, _ := openTest(t)
	if _, err := l.Reap(context.Background(), time.Now(), time.Hour, false); err != nil || !l.indexed() {
		t.Fatalf("%v, indexed %v", err, l.indexed())
	}
}

// The first whole pass and the count a metrics scrape starts beside it end with the true
// figures, whichever runs first: a removal by the pass is never counted back in.
func TestWholePassAndCountAgree(t *testing.T) {
	l, dir := openTest(t)
	now := time.Now()
	for i := range 50 {
		exp := time.Time{}
		if i%5 == 0 {
			exp = now.Add(-time.Minute)
		}
		commitFile(t, l, "f/"+string(rune('a'+i%26))+string(rune('a'+i/26))+".txt", exp)
	}
	os.RemoveAll(filepath.Join(dir, "index")) // stored before the index: the pass walks
	l.Usage()
	if _, err := l.Reap(context.Background(), now, 0, false); err != nil {
		t.Fatal(err)
	}
	<-l.counted
	if f, _ := l.Usage(); f != 40 {
		t.Fatalf("counted %d files after the pass, want 40", f)
	}
}
