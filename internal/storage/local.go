package storage

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Layout of the data directory. Files and their sidecars live in separate trees, so no
// uploaded name can ever collide with metadata or temporary files.
const (
	filesDir = "files"
	metaDir  = "meta"
	tmpDir   = "tmp"
)

// LocalOptions configure a Local store.
type LocalOptions struct {
	// Fsync makes Commit durable: file data, then every directory entry it touched.
	Fsync bool
	// Checksum computes a SHA-256 of every upload while it streams in.
	Checksum bool
	// Preallocate makes Reserve allocate the announced bytes on disk (fallocate), not only
	// claim them against MinFree (see Reserver).
	Preallocate bool
	// MinFree is the free space the filesystem must keep (storage.min_free): a write, or a
	// reservation, that would leave less is ErrNoSpace. 0: no floor.
	MinFree int64
	// Dedup stores an upload whose content is already stored as a hard link to it (see
	// dedup.go). It needs the digest: Checksum, or a digest the caller gives (resumable
	// uploads compute their own).
	Dedup bool
}

// Local stores files in a directory on local disk. Every path is resolved through an
// os.Root, so no name can reach outside the data directory, symlinks included.
type Local struct {
	root  *os.Root
	opts  LocalOptions
	dedup DedupStats
	// files and bytes count what is stored (see Usage): kept up to date by commits and
	// deletions once known, which they are from the count a clean stop left (usageFile) or
	// from a walk of every file, made when first asked for.
	files, bytes atomic.Int64
	usageKnown   atomic.Bool
	usageAsked   atomic.Bool // Usage was called: this process keeps the count
	countOnce    sync.Once
	countMu      sync.Mutex    // one walk that counts at a time (recount, a whole reaper pass)
	counted      chan struct{} // closed when the counts are known
	// deleted are told of every removed file (download caches).
	deleted deleteHooks
	// quota counts each uploader's bytes of the day (see UsedToday).
	quota quotaBook
	// space keeps MinFree.
	space *floor
}

var _ Store = (*Local)(nil)

// OpenLocal opens (creating if needed) the data directory at dir.
func OpenLocal(dir string, opts LocalOptions) (*Local, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("storage: create data directory: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("storage: open data directory: %w", err)
	}
	for _, d := range []string{filesDir, metaDir, tmpDir} {
		if err := root.MkdirAll(d, 0o750); err != nil {
			root.Close()
			return nil, fmt.Errorf("storage: create %s: %w", d, err)
		}
	}
	l := &Local{root: root, opts: opts}
	l.space = &floor{minFree: opts.MinFree, free: func() (int64, error) {
		free, _, err := l.DiskSpace()
		return free, err
	}}
	l.loadQuota()
	l.counted = make(chan struct{})
	l.loadUsage()
	return l, nil
}

// Usage is how many files, and bytes in them, the store holds. When the count is not known
// yet (the first start, or after a crash), the first call starts counting in the background
// and the figures grow to the truth while it runs.
func (l *Local) Usage() (files, bytes int64) {
	if !l.usageKnown.Load() {
		l.usageAsked.Store(true)
		l.countOnce.Do(func() {
			go func() {
				l.countMu.Lock()
				defer l.countMu.Unlock()
				if !l.usageKnown.Load() { // a whole reaper pass may have counted meanwhile
					l.recount()
					l.usageKnown.Store(true)
				}
				close(l.counted)
			}()
		})
	}
	return l.files.Load(), l.bytes.Load()
}

// usageFile holds the usage count a clean stop left, so that a start need not walk every
// file; it is removed as it is read, so a crash leaves none and the next start counts.
// staleFile is left by a process that removed files without knowing the count (fileserver
// gc beside a running server): the process that keeps the count counts again.
const (
	usageFile = "usage.json"
	staleFile = "usage.stale"
)

type usageState struct {
	Files int64 `json:"files"`
	Bytes int64 `json:"bytes"`
}

// loadUsage takes over the count a clean stop left, if any.
func (l *Local) loadUsage() {
	data, err := l.root.ReadFile(usageFile)
	if err != nil {
		return
	}
	var u usageState
	if json.Unmarshal(data, &u) != nil || l.root.Remove(usageFile) != nil {
		return
	}
	if l.opts.Fsync && l.syncDir(".") != nil {
		return
	}
	if _, err := l.root.Stat(staleFile); err == nil {
		return // a removal since: count again when asked
	}
	l.files.Store(u.Files)
	l.bytes.Store(u.Bytes)
	l.usageKnown.Store(true)
	l.countOnce.Do(func() { close(l.counted) })
}

// saveUsage leaves the count for the next start, when this process knows it.
func (l *Local) saveUsage() {
	if !l.usageKnown.Load() {
		return
	}
	if _, err := l.root.Stat(staleFile); err == nil {
		return
	}
	data, _ := json.Marshal(usageState{Files: l.files.Load(), Bytes: l.bytes.Load()})
	l.replaceFile(usageFile, data) // on failure the next start counts
}

// noteRemovals keeps the usage count right after a reaper pass removed files: a process that
// does not know the count tells the one that does (staleFile), which counts again.
func (l *Local) noteRemovals(removed int) {
	_, err := l.root.Stat(staleFile)
	stale := err == nil
	switch {
	case !l.usageKnown.Load() && removed > 0 && !stale:
		l.replaceFile(staleFile, nil) // on failure the holder keeps counts that may be high
	case l.usageKnown.Load() && stale:
		if l.root.Remove(staleFile) == nil {
			go func() {
				l.countMu.Lock()
				defer l.countMu.Unlock()
				l.recount()
			}()
		}
	}
}

// recount walks the files tree and sets the usage counters (countMu held).
func (l *Local) recount() {
	var files, bytes int64
	fs.WalkDir(l.root.FS(), filesDir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				files++
				bytes += info.Size()
			}
		}
		return nil
	})
	l.files.Store(files)
	l.bytes.Store(bytes)
}

// Close leaves the usage count for the next start and releases the data directory.
func (l *Local) Close() error {
	l.closeQuota()
	l.saveUsage()
	return l.root.Close()
}

// Root exposes the data directory handle, for components that keep their own files in it
// (the generated secret, session state).
func (l *Local) Root() *os.Root { return l.root }

func filePath(name string) string { return filesDir + "/" + name }

// metaPath keys sidecars by a hash of the name, so that any two names map to distinct
// sidecar files whatever their shape (a file "a" and a directory "a.json/").
func metaPath(name string) string {
	sum := sha256.Sum256([]byte(name))
	h := hex.EncodeToString(sum[:])
	return metaDir + "/" + h[:2] + "/" + h + ".json"
}

// RandomID is 128 random bits in hex: a name nobody can guess or collide with (temporary
// files, upload ids, tail objects).
func RandomID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Create implements Store.
func (l *Local) Create(_ context.Context, name string) (Writer, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	tmp := tmpDir + "/" + RandomID()
	f, err := l.root.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, mapErr("create temporary file", err)
	}
	w := &localWriter{store: l, name: name, tmp: tmp, f: f, space: claimed{f: l.space}}
	if l.opts.Fsync {
		w.flusher = newRangeFlusher(f)
	}
	if l.opts.Checksum {
		w.hash = sha256.New()
	}
	return w, nil
}

// Open implements Store.
func (l *Local) Open(_ context.Context, name string) (Object, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	f, err := l.root.Open(filePath(name))
	if err != nil {
		return nil, mapErr("open", err)
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, ErrNotFound
	}
	meta, mod := l.readMeta(name, st), st.ModTime()
	if !meta.Derived {
		// The upload's own time: a deduplicated upload shares its data file, and that
		// file's time, with the first upload of the same bytes, which is another's to know.
		mod = meta.Created
	}
	return &localObject{f: f, meta: meta, mod: mod}, nil
}

// Stat implements Store.
func (l *Local) Stat(_ context.Context, name string) (Meta, error) {
	if err := ValidName(name); err != nil {
		return Meta{}, err
	}
	st, err := l.root.Stat(filePath(name))
	if err != nil {
		return Meta{}, mapErr("stat", err)
	}
	if !st.Mode().IsRegular() {
		return Meta{}, ErrNotFound
	}
	return l.readMeta(name, st), nil
}

// Delete implements Store.
func (l *Local) Delete(_ context.Context, name string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if l.linkOnPath(path.Dir(filePath(name))) {
		// A link planted in the tree would point the removal at the server's own state.
		return ErrEscapes
	}
	st, err := l.root.Lstat(filePath(name))
	if err != nil {
		return mapErr("delete", err)
	}
	gone := Removed{Name: name, Meta: l.readMeta(name, st)}
	// The sidecar goes first. While the file is there a commit to its name is refused, so
	// no sidecar a newer upload wrote is ever removed here; and no sidecar outlives its file
	// (a crash in between included) to be read as a later file's of the same size. A
	// download in between gets the metadata derived from the file, which is not cached.
	if err := l.root.Remove(metaPath(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return mapErr("delete metadata", err)
	}
	if err := l.root.Remove(filePath(name)); err != nil {
		return mapErr("delete", err)
	}
	l.unindexContent(gone.Meta.SHA256, name)
	l.deleted.notify(gone)
	l.files.Add(-1)
	l.bytes.Add(-st.Size())
	return nil
}

// linkOnPath tells whether a directory of dir (a path in the data directory) is a symbolic
// link, or cannot be looked at.
func (l *Local) linkOnPath(dir string) bool {
	for p := dir; p != "." && p != "/" && p != ""; p = path.Dir(p) {
		st, err := l.root.Lstat(p)
		if err != nil {
			return !errors.Is(err, fs.ErrNotExist)
		}
		if st.Mode()&fs.ModeSymlink != 0 {
			return true
		}
	}
	return false
}

// readMeta returns the sidecar's metadata, or, marked Derived, what the file itself tells
// when the sidecar is missing (a crash between the data's commit and the sidecar's) or stale
// (size differs).
func (l *Local) readMeta(name string, st fs.FileInfo) Meta {
	fallback := Meta{Name: name, Size: st.Size(), Created: st.ModTime(), Derived: true}
	data, err := l.root.ReadFile(metaPath(name))
	if err != nil {
		return fallback
	}
	var m Meta
	if json.Unmarshal(data, &m) != nil || m.Name != name || m.Size != st.Size() {
		return fallback
	}
	return m
}

func (l *Local) writeMeta(m Meta) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return l.replaceFile(metaPath(m.Name), data)
}

// replaceFile puts data at dst in one step, synced with storage.fsync (see ReplaceFile), its
// directory made if need be.
func (l *Local) replaceFile(dst string, data []byte) error {
	if err := l.root.MkdirAll(path.Dir(dst), 0o750); err != nil {
		return err
	}
	return ReplaceFile(l.root, tmpDir+"/"+RandomID()+path.Ext(dst), dst, data, l.opts.Fsync)
}

// ReplaceFile puts data at dst in root in one step: written to the new file tmp, synced when
// sync is set, renamed over dst, dst's directory synced. A reader sees the old content or the
// new, never part of it; with sync, so does whoever looks after a crash.
func ReplaceFile(root *os.Root, tmp, dst string, data []byte, sync bool) error {
	f, err := root.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, dst)
	}
	if err != nil {
		root.Remove(tmp)
		return err
	}
	if sync {
		return syncDir(root, path.Dir(dst))
	}
	return nil
}

func (l *Local) syncDir(dir string) error { return syncDir(l.root, dir) }

func syncDir(root *os.Root, dir string) error {
	d, err := root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// mapErr turns filesystem errors into the store's sentinels without leaking paths.
func mapErr(op string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EISDIR):
		return ErrNotFound
	case errors.Is(err, fs.ErrExist):
		return ErrExists
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return ErrNoSpace
	case strings.Contains(err.Error(), "path escapes from parent"):
		// os.Root refused to follow a symbolic link out of the data directory; os does not
		// export that error, only its text.
		return ErrEscapes
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		err = le.Err
	}
	return fmt.Errorf("%w: %s: %w", ErrIO, op, err)
}

type localObject struct {
	f    *os.File
	meta Meta
	mod  time.Time
}

func (o *localObject) Content() io.ReadSeeker { return o.f }
func (o *localObject) Meta() Meta             { return o.meta }
func (o *localObject) ModTime() time.Time     { return o.mod }
func (o *localObject) Close() error           { return o.f.Close() }
