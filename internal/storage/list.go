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
	start := filesDir
	if i := strings.LastIndex(q.Prefix, "/"); i >= 0 {
		start = filesDir + "/" + q.Prefix[:i]
	}
	if l.linkOnPath(start) {
		return ListPage{}, nil // a walk would follow it: nothing of the files tree lies there
	}
	lw := &listWalk{l: l, q: q, ctx: ctx, start: start}
	err := fs.WalkDir(l.root.FS(), start, lw.visit)
	if err == nil {
		lw.page.Next = "" // the walk ended: nothing follows
	} else if !errors.Is(err, errPageFull) {
		return ListPage{}, err
	}
	return lw.page, nil
}

// listWalk is one page of a listing being walked.
type listWalk struct {
	l       *Local
	q       ListQuery
	ctx     context.Context
	start   string
	page    ListPage
	scanned int
}

func (lw *listWalk) visit(p string, d fs.DirEntry, err error) error {
	switch {
	case err != nil && p == lw.start && errors.Is(err, fs.ErrNotExist):
		return fs.SkipAll
	case err != nil:
		return nil // a directory removed during the walk: go on
	case lw.ctx.Err() != nil:
		return lw.ctx.Err()
	case p == filesDir:
		return nil
	}
	name := strings.TrimPrefix(p, filesDir+"/")
	if d.IsDir() {
		return enterDir(name, lw.q)
	}
	return lw.file(name, d)
}

// file takes a file into the page when it belongs there.
func (lw *listWalk) file(name string, d fs.DirEntry) error {
	if !d.Type().IsRegular() || !strings.HasPrefix(name, lw.q.Prefix) || (lw.q.After != "" && comparePaths(name, lw.q.After) <= 0) {
		return nil
	}
	if lw.q.MaxScan > 0 && lw.scanned >= lw.q.MaxScan {
		return errPageFull
	}
	lw.scanned++
	lw.page.Next = name
	st, err := d.Info()
	if err != nil {
		return nil
	}
	if m := lw.l.readMeta(name, st); lw.q.Match == nil || lw.q.Match(m) {
		lw.page.Files = append(lw.page.Files, m)
	}
	if lw.q.Limit > 0 && len(lw.page.Files) >= lw.q.Limit {
		return errPageFull
	}
	return nil
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
