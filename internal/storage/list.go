package storage

import (
	"context"
	"errors"
	"io/fs"
	"strings"
)

// ListQuery asks a store for its files in name order, a page at a time.
type ListQuery struct {
	// Prefix keeps the names that start with it ("" every name).
	Prefix string
	// After resumes a listing after this name (the Next of the page before); "" starts it.
	After string
	// Limit is the most files a page holds.
	Limit int
	// Match, when set, keeps only the files it accepts.
	Match func(Meta) bool
	// MaxScan bounds the files a page examines (with Match, most may be passed over): the page
	// then ends early with a Next to go on from. 0: no bound.
	MaxScan int
}

// ListPage is a page of a listing; Next is "" when nothing follows.
type ListPage struct {
	Files []Meta
	Next  string
}

// Lister lists stored files (the admin API's file browser).
type Lister interface {
	List(ctx context.Context, q ListQuery) (ListPage, error)
}

// errPageFull ends a walk once a page is full.
var errPageFull = errors.New("page full")

// List implements Lister: the files under files/ in the order a walk of the tree visits
// them (by path component), which is the order After resumes in. A directory that cannot
// hold a name after q.After with q.Prefix is not entered, so a page costs what it lists plus
// the directories on the way to where it starts.
func (l *Local) List(ctx context.Context, q ListQuery) (ListPage, error) {
	var page ListPage
	start := filesDir
	if i := strings.LastIndex(q.Prefix, "/"); i >= 0 {
		start = filesDir + "/" + q.Prefix[:i]
	}
	if l.linkOnPath(start) {
		return page, nil // a walk would follow it: nothing of the files tree lies there
	}
	scanned := 0
	err := fs.WalkDir(l.root.FS(), start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == start && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return nil // a directory removed during the walk: go on
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if p == filesDir {
			return nil
		}
		name := strings.TrimPrefix(p, filesDir+"/")
		if d.IsDir() {
			return enterDir(name, q)
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(name, q.Prefix) || (q.After != "" && comparePaths(name, q.After) <= 0) {
			return nil
		}
		if q.MaxScan > 0 && scanned >= q.MaxScan {
			return errPageFull
		}
		scanned++
		page.Next = name
		st, err := d.Info()
		if err != nil {
			return nil
		}
		m := l.readMeta(name, st)
		if q.Match != nil && !q.Match(m) {
			return nil
		}
		page.Files = append(page.Files, m)
		if q.Limit > 0 && len(page.Files) >= q.Limit {
			return errPageFull
		}
		return nil
	})
	if err == nil {
		page.Next = "" // the walk ended: nothing follows
	} else if !errors.Is(err, errPageFull) {
		return ListPage{}, err
	}
	return page, nil
}

// enterDir decides whether a listing walks into directory dir: only when names under it can
// start with q.Prefix and come after q.After.
func enterDir(dir string, q ListQuery) error {
	if !strings.HasPrefix(dir+"/", q.Prefix) && !strings.HasPrefix(q.Prefix, dir+"/") {
		return fs.SkipDir
	}
	if q.After != "" && !strings.HasPrefix(q.After, dir+"/") && comparePaths(dir, q.After) < 0 {
		return fs.SkipDir
	}
	return nil
}

// comparePaths orders slash-separated names as a walk of the tree visits them: component by
// component ("a/b" before "a.txt", though "a.txt" < "a/b" as strings).
func comparePaths(a, b string) int {
	for {
		ah, arest, amore := strings.Cut(a, "/")
		bh, brest, bmore := strings.Cut(b, "/")
		if c := strings.Compare(ah, bh); c != 0 {
			return c
		}
		switch {
		case !amore && !bmore:
			return 0
		case !amore:
			return -1
		case !bmore:
			return 1
		}
		a, b = arest, brest
	}
}
