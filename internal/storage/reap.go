package storage

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

// Expired is one file the reaper removes (or, in a dry run, would remove).
type Expired struct {
	Name    string
	Size    int64
	Expires time.Time
}

// ReapResult sums up one pass of the reaper.
type ReapResult struct {
	Files []Expired
	// Kept lists files whose stored expiry was the expiry of the URL that uploaded them
	// (see URLExpiry): the reaper dropped that expiry, and keeps them.
	Kept       []string
	Bytes      int64
	DirsPruned int
	// TempRemoved counts leftovers of uploads a crash interrupted.
	TempRemoved int
	// Unindexed lists files the expiry index could not take (their names too long for an
	// object store's index keys): the reaper does not see them again.
	Unindexed []string
}

// URLExpiry reports whether meta's expiry is the expiry of the signed URL that uploaded the
// file, which servers before this one stored as the file's own. Only a Prosody token states
// a file's lifetime, and expiries stated so are marked (ExpiresBy) since; of the unmarked
// ones written before, a token's named its uploader by JID, while a URL left the client's
// address ("addr:..."). The reapers drop such an expiry once, and keep the file for
// upload.ttl to decide.
func URLExpiry(meta Meta) bool {
	return !meta.Expires.IsZero() && meta.ExpiresBy == "" && strings.HasPrefix(meta.Uploader, "addr:")
}

// tempGrace is how old a temporary file must be before the reaper takes it for a crash's
// leftover rather than an upload in progress.
const tempGrace = 24 * time.Hour

// Reap removes files whose time is up: those whose metadata names an expiry in the past, and,
// when ttl > 0, those created more than ttl ago, then the directories that left empty and
// temporary files older than a day. It reads the expiry index (see expiry.go); until the
// index holds every file, it walks the whole files tree and builds the index as it goes. It
// never follows a symlink, so nothing outside storage and no upload in progress (their data
// lives elsewhere) is touched. With dryRun it only reports.
func (l *Local) Reap(ctx context.Context, now time.Time, ttl time.Duration, dryRun bool) (ReapResult, error) {
	var res ReapResult
	var err error
	if l.indexed() {
		err = l.reapIndexed(ctx, now, ttl, dryRun, &res)
	} else {
		err = l.reapAll(ctx, now, ttl, dryRun, &res)
	}
	if err != nil || dryRun {
		return res, err
	}
	l.removeStaleTemps(now, &res)
	l.noteRemovals(len(res.Files))
	return res, nil
}

// fullPass is reapAll's walk: the directories it saw (to prune), and the files and bytes it
// kept (the usage count).
type fullPass struct {
	l            *Local
	ctx          context.Context
	now          time.Time
	ttl          time.Duration
	dryRun       bool
	res          *ReapResult
	build        *indexBuilder
	dirs         []string
	files, bytes int64
}

func (f *fullPass) visit(p string, d fs.DirEntry, err error) error {
	switch {
	case err != nil && errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case f.ctx.Err() != nil:
		return f.ctx.Err()
	case d.IsDir():
		if p != filesDir {
			f.dirs = append(f.dirs, p)
		}
		return nil
	case !d.Type().IsRegular():
		return nil // symlinks and other oddities are not ours to judge
	}
	info, err := d.Info()
	if err != nil {
		return nil
	}
	meta, removed, err := f.l.reapFile(f.ctx, strings.TrimPrefix(p, filesDir+"/"), info, f.now, f.ttl, f.dryRun, f.res)
	if err == nil && !removed && !f.dryRun {
		f.build.add(meta)
		f.files, f.bytes = f.files+1, f.bytes+info.Size()
	}
	return err
}

// reapAll is a reaper pass that walks every stored file. Unless it is a dry run, it records
// each file it keeps in the expiry index and, once it got through them all, marks the
// index whole, so that the passes after it read the index instead.
func (l *Local) reapAll(ctx context.Context, now time.Time, ttl time.Duration, dryRun bool, res *ReapResult) error {
	build := &indexBuilder{l: l, logs: map[string]*bufferedLog{}}
	// The walk sees every file: what it keeps is the usage count too (a count running beside
	// it would end with figures a removal here had already changed).
	if !dryRun {
		l.countMu.Lock()
		defer l.countMu.Unlock()
	}
	pass := &fullPass{l: l, ctx: ctx, now: now, ttl: ttl, dryRun: dryRun, res: res, build: build}
	err := fs.WalkDir(l.root.FS(), filesDir, pass.visit)
	dirs, files, bytes := pass.dirs, pass.files, pass.bytes
	if dryRun {
		build.finish()
		return err
	}
	if berr := build.finish(); err == nil && berr == nil {
		err = l.markIndexed()
	}
	if err == nil && (l.usageAsked.Load() || l.usageKnown.Load()) {
		// Only a process that keeps the count takes it over: fileserver gc beside a running
		// server does not, and tells it instead (see noteRemovals).
		l.files.Store(files)
		l.bytes.Store(bytes)
		l.usageKnown.Store(true)
	}
	l.pruneDirs(dirs, res)
	return err
}

// reapFile removes the file name (its data's info) if its time is up, counting it in res;
// an expiry its upload URL gave it is dropped first (see URLExpiry). It returns the file's
// metadata and whether it was (in a dry run: would be) removed.
func (l *Local) reapFile(ctx context.Context, name string, info fs.FileInfo, now time.Time, ttl time.Duration, dryRun bool, res *ReapResult) (Meta, bool, error) {
	meta := l.readMeta(name, info)
	if URLExpiry(meta) {
		res.Kept = append(res.Kept, name)
		meta.Expires = time.Time{}
		if !dryRun {
			if err := l.writeMeta(meta); err != nil {
				return meta, false, mapErr("rewrite metadata", err)
			}
		}
	}
	expires := Deadline(meta.Created, meta.Expires, ttl)
	if expires.IsZero() || now.Before(expires) {
		return meta, false, nil
	}
	if !dryRun {
		if err := l.Delete(ctx, name); err != nil && !errors.Is(err, ErrNotFound) {
			return meta, false, err
		}
	}
	res.Files = append(res.Files, Expired{Name: name, Size: info.Size(), Expires: expires})
	res.Bytes += info.Size()
	return meta, true, nil
}

// pruneDirs removes the directories of dirs that are empty, deepest first, so a parent
// emptied by its children's removal goes too. Remove fails on a directory that is not
// empty, which is what keeps the others.
func (l *Local) pruneDirs(dirs []string, res *ReapResult) {
	sort.Slice(dirs, func(i, j int) bool { return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/") })
	for _, d := range dirs {
		if l.root.Remove(d) == nil {
			res.DirsPruned++
		}
	}
}

// removeStaleTemps removes temporary files older than tempGrace: a crash's leftovers.
func (l *Local) removeStaleTemps(now time.Time, res *ReapResult) {
	ents, err := fs.ReadDir(l.root.FS(), tmpDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if info, err := e.Info(); err == nil && e.Type().IsRegular() && now.Sub(info.ModTime()) > tempGrace {
			if l.root.Remove(path.Join(tmpDir, e.Name())) == nil {
				res.TempRemoved++
			}
		}
	}
}

// Deadline is when a file stored at created, with its own expiry own (zero: none), is due
// under ttl (0: none): the earlier of the two, zero when neither applies.
func Deadline(created, own time.Time, ttl time.Duration) time.Time {
	if ttl > 0 {
		if byTTL := created.Add(ttl); own.IsZero() || byTTL.Before(own) {
			return byTTL
		}
	}
	return own
}
