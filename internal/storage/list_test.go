package storage

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

func TestComparePathsIsWalkOrder(t *testing.T) {
	// The order a walk of the tree visits these names in.
	walk := []string{"a/b", "a/b.c/d", "a/bc", "a.txt", "a0", "b", "b/c"}
	got := slices.Clone(walk)
	sort.Slice(got, func(i, j int) bool { return comparePaths(got[i], got[j]) < 0 })
	if !slices.Equal(got, []string{"a/b", "a/b.c/d", "a/bc", "a.txt", "a0", "b", "b/c"}) {
		t.Errorf("sorted %v", got)
	}
	if comparePaths("x/y", "x/y") != 0 || comparePaths("x", "x/y") >= 0 {
		t.Error("equal names or a directory before what it holds")
	}
}

// Resuming after any name gives exactly the names a full listing has after it, however the
// tree nests them.
func TestListResumesAnywhere(t *testing.T) {
	l, err := OpenLocal(t.TempDir(), LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	names := []string{"a.txt", "a/b/c.txt", "a/b.txt", "a/z/y/x.bin", "b", "ba/1", "ba/2", "c/d/e/f/g.txt"}
	for _, n := range names {
		w, err := l.Create(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(n))
		if _, err := w.Commit(ctx, Meta{Uploader: "u-" + strings.Split(n, "/")[0]}); err != nil {
			t.Fatal(err)
		}
	}
	full, err := l.List(ctx, ListQuery{})
	if err != nil || len(full.Files) != len(names) || full.Next != "" {
		t.Fatalf("full listing: %+v %v", full, err)
	}
	var order []string
	for _, f := range full.Files {
		order = append(order, f.Name)
	}
	for i, after := range order {
		page, err := l.List(ctx, ListQuery{After: after})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range page.Files {
			got = append(got, f.Name)
		}
		if !slices.Equal(got, order[i+1:]) {
			t.Errorf("after %q: %v, want %v", after, got, order[i+1:])
		}
	}
	page, _ := l.List(ctx, ListQuery{Match: func(m Meta) bool { return m.Uploader == "u-ba" }, Limit: 1})
	if len(page.Files) != 1 || page.Files[0].Name != "ba/1" || page.Next != "ba/1" {
		t.Errorf("match with limit 1: %+v", page)
	}
	page, _ = l.List(ctx, ListQuery{MaxScan: 2})
	if len(page.Files) != 2 || page.Next != order[1] {
		t.Errorf("MaxScan 2: %+v", page)
	}
	page, _ = l.List(ctx, ListQuery{Prefix: "nothing/here"})
	if len(page.Files) != 0 || page.Next != "" {
		t.Errorf("a prefix with no directory: %+v", page)
	}
}

// A symbolic link planted in the files tree is no way into the data directory: a listing
// under it is empty and a delete through it removes nothing.
func TestListAndDeleteDoNotFollowLinks(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenLocal(dir, LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	w, _ := l.Create(ctx, "real/file.txt")
	w.Write([]byte("x"))
	if _, err := w.Commit(ctx, Meta{}); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..", filepath.Join(dir, "files", "s")); err != nil {
		t.Fatal(err)
	}
	page, err := l.List(ctx, ListQuery{Prefix: "s/"})
	if err != nil || len(page.Files) != 0 {
		t.Fatalf("listing under the link: %+v %v", page, err)
	}
	var sidecar string
	filepath.WalkDir(filepath.Join(dir, "meta"), func(p string, d fs.DirEntry, _ error) error {
		if !d.IsDir() {
			sidecar, _ = filepath.Rel(dir, p)
		}
		return nil
	})
	if sidecar == "" {
		t.Fatal("no sidecar to aim at")
	}
	if err := l.Delete(ctx, "s/"+filepath.ToSlash(sidecar)); err == nil {
		t.Fatal("a delete through the link succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, sidecar)); err != nil {
		t.Fatalf("the sidecar was removed through the link: %v", err)
	}
}
