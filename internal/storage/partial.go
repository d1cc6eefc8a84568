package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"fileserver/internal/crashpoint"
)

// Partials is an optional capability of a Store: unfinished uploads that grow by appends at
// a byte offset and are published under a name once complete (resumable uploads).
type Partials interface {
	// OpenPartial opens the partial data of an upload, creating it empty when create is set
	// (dropping whatever ref.State pointed at). A missing one is ErrNotFound.
	OpenPartial(ref PartialRef, create bool) (Partial, error)
	// RemovePartial deletes the partial data of an upload; a missing one is not an error.
	RemovePartial(ref PartialRef) error
	// Adopt finishes a commit of ref's data under name that stopped between its steps (a
	// crash after the data was published and before its caller learnt so): when name holds
	// exactly that data, length bytes with meta.SHA256 as digest (the size alone when
	// meta.SHA256 is empty), it completes what the commit left undone (the metadata, the
	// partial data's removal) and returns the file's metadata. A name that holds anything
	// else, or nothing, is ErrNotFound.
	Adopt(ctx context.Context, ref PartialRef, name string, length int64, meta Meta) (Meta, error)
}

// PartialRef names the partial data of one upload.
type PartialRef struct {
	// ID is the upload's id.
	ID string
	// Target is the name the data will be committed to; "" when it is not known (a tus
	// partial upload, which is only ever concatenated).
	Target string
	// State is what Partial.State returned after the last acknowledged Sync (nil at first).
	State []byte
	// Guard, when set, is asked before the partial publishes data where a writer on another
	// node could see it or write over it (a part of an object store's multipart upload, a
	// tail object, the commit): an error (the caller lost its lease on the upload) stops the
	// write with that error. Storage that only this process writes need not ask.
	Guard func(ctx context.Context) error
}

// Partial is the data of one unfinished upload.
type Partial interface {
	// Size is the number of bytes in the partial data (which may exceed what was
	// acknowledged, after a crash mid-append).
	Size() (int64, error)
	// AppendAt returns a writer that continues the data at offset, first dropping any
	// bytes past offset (unacknowledged leftovers of an interrupted append). ctx bounds what
	// the writer may wait for (memory for its buffers); its end stops such waits, not the
	// writes that make received bytes durable.
	AppendAt(ctx context.Context, offset int64) (io.Writer, error)
	// Truncate drops every byte past size.
	Truncate(size int64) error
	// Sync makes every byte written so far durable (when the store syncs at all).
	Sync() error
	// State is what the store needs to find the data as of the last Sync again: the caller
	// keeps it with the offset it acknowledges and hands it back in PartialRef.State. A store
	// that finds partial data by id alone returns nil. Until the caller has recorded a new
	// state, the data as of the old one stays intact.
	State() []byte
	// Recorded tells the partial that the caller has durably recorded State(): the data it
	// names is the upload's from now on. What a partial wrote and nobody recorded is the
	// partial's to clean up.
	Recorded()
	// Commit publishes the first length bytes under name, atomically and without replacing
	// an existing file (ErrExists), and removes the partial. meta.Size is set to length.
	Commit(ctx context.Context, name string, length int64, meta Meta) (Meta, error)
	// Close releases the partial without removing it.
	Close() error
}

// Aligner is an optional capability of the writer a Partial's AppendAt returns: Sync costs
// least at certain offsets (an object store's part boundaries; between them a Sync must
// also write the bytes past the last part as an object of their own). Boundary is how many
// more bytes must be written before the next such offset; 0 when the writer is at one.
type Aligner interface {
	Boundary() int64
}

// PartialReader is a Partial whose acknowledged bytes can be read back (tus concatenation
// needs it).
type PartialReader interface {
	Partial
	io.ReaderAt
}

const partialDir = "partial"

var _ Partials = (*Local)(nil)

// ValidUploadID checks an upload id: 1 to 128 of a-z, 0-9 and "-", safe in any file or key name.
func ValidUploadID(id string) error {
	if id == "" || len(id) > 128 {
		return fmt.Errorf("%w: bad upload id", ErrInvalidName)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("%w: bad upload id", ErrInvalidName)
		}
	}
	return nil
}

// OpenPartial implements Partials.
func (l *Local) OpenPartial(ref PartialRef, create bool) (Partial, error) {
	id := ref.ID
	if err := ValidUploadID(id); err != nil {
		return nil, err
	}
	flags := os.O_RDWR
	if create {
		flags |= os.O_CREATE
		if err := l.root.MkdirAll(partialDir, 0o750); err != nil {
			return nil, mapErr("create partial directory", err)
		}
	}
	f, err := l.root.OpenFile(partialDir+"/"+id, flags, 0o640)
	if err != nil {
		return nil, mapErr("open partial", err)
	}
	return &localPartial{store: l, id: id, f: f}, nil
}

// RemovePartial implements Partials.
func (l *Local) RemovePartial(ref PartialRef) error {
	id := ref.ID
	if err := ValidUploadID(id); err != nil {
		return err
	}
	if err := l.root.Remove(partialDir + "/" + id); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return mapErr("remove partial", err)
	}
	return nil
}

type localPartial struct {
	store *Local
	id    string
	f     *os.File
	// w is the writer of the last AppendAt: what it was promised of the free space goes back
	// with the next AppendAt, the commit or Close.
	w *partialWriter
}

// dropWriter gives back what the current writer was promised and was not written.
func (p *localPartial) dropWriter() {
	if p.w != nil {
		p.w.space.release()
		p.w = nil
	}
}

var _ PartialReader = (*localPartial)(nil)

func (p *localPartial) State() []byte { return nil }

func (p *localPartial) Recorded() {}

func (p *localPartial) ReadAt(b []byte, off int64) (int, error) { return p.f.ReadAt(b, off) }

func (p *localPartial) Size() (int64, error) {
	st, err := p.f.Stat()
	if err != nil {
		return 0, mapErr("stat partial", err)
	}
	return st.Size(), nil
}

func (p *localPartial) Truncate(size int64) error {
	if err := p.f.Truncate(size); err != nil {
		return mapErr("truncate partial", err)
	}
	return nil
}

func (p *localPartial) AppendAt(_ context.Context, offset int64) (io.Writer, error) {
	if err := p.Truncate(offset); err != nil {
		return nil, err
	}
	if _, err := p.f.Seek(offset, io.SeekStart); err != nil {
		return nil, mapErr("seek partial", err)
	}
	p.dropWriter()
	w := &partialWriter{f: p.f, base: offset, prealloc: p.store.opts.Preallocate, space: claimed{f: p.store.space, end: offset}}
	if p.store.opts.Fsync {
		w.flusher = newRangeFlusherAt(p.f, offset)
	}
	p.w = w
	return w, nil
}

func (p *localPartial) Sync() error {
	if !p.store.opts.Fsync {
		return nil
	}
	if err := unix.Fdatasync(int(p.f.Fd())); err != nil {
		return mapErr("sync partial", err)
	}
	return nil
}

func (p *localPartial) Commit(_ context.Context, name string, length int64, meta Meta) (Meta, error) {
	if err := ValidName(name); err != nil {
		return Meta{}, err
	}
	p.dropWriter()
	l := p.store
	src := partialDir + "/" + p.id
	if linked, err := l.linkTwin(meta.SHA256, length, name, meta); err != nil || linked {
		if err != nil {
			return Meta{}, err
		}
		// The same bytes stored already: the partial data goes, unsynced.
		l.root.Remove(src)
		meta.Name, meta.Size = name, length
		return l.finishCommit(name, meta, time.Now()), nil
	}
	if err := p.Truncate(length); err != nil {
		return Meta{}, err
	}
	if err := p.Sync(); err != nil {
		return Meta{}, err
	}
	if err := l.link(src, name, meta.Expires); err != nil {
		return Meta{}, err
	}
	crashpoint.Here("partial-linked")
	l.root.Remove(src)
	if l.opts.Fsync {
		if err := l.syncDir(partialDir); err != nil {
			return Meta{}, mapErr("sync directory", err)
		}
	}
	crashpoint.Here("partial-unlinked")
	meta.Name, meta.Size = name, length
	l.indexContent(meta.SHA256, name)
	return l.finishCommit(name, meta, time.Time{}), nil
}

// Adopt implements Partials. The data is recognised by its size and digest; the metadata a
// crash kept from being written is written now (and the upload charged to its uploader's
// day, which happens with it).
func (l *Local) Adopt(_ context.Context, ref PartialRef, name string, length int64, meta Meta) (Meta, error) {
	if err := ValidName(name); err != nil {
		return Meta{}, err
	}
	st, err := l.root.Stat(filePath(name))
	if err != nil || !st.Mode().IsRegular() || st.Size() != length {
		return Meta{}, ErrNotFound
	}
	stored := l.readMeta(name, st)
	switch {
	case !stored.Derived && meta.SHA256 != "" && stored.SHA256 != meta.SHA256:
		return Meta{}, ErrNotFound
	case stored.Derived && meta.SHA256 != "":
		sum, err := l.digest(name)
		if err != nil || sum != meta.SHA256 {
			return Meta{}, ErrNotFound
		}
	}
	if err := l.RemovePartial(ref); err != nil {
		return Meta{}, err
	}
	if !stored.Derived {
		return stored, nil
	}
	meta.Name, meta.Size = name, length
	return l.finishCommit(name, meta, time.Time{}), nil
}

// digest is the hex SHA-256 of a stored file's bytes.
func (l *Local) digest(name string) (string, error) {
	f, err := l.root.Open(filePath(name))
	if err != nil {
		return "", mapErr("open", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", mapErr("read", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (p *localPartial) Close() error {
	p.dropWriter()
	return p.f.Close()
}

// partialWriter appends to a partial file, starting writeback as it goes like localWriter.
type partialWriter struct {
	f        *os.File
	flusher  *rangeFlusher
	base     int64 // file offset where this writer started
	n        int64
	prealloc bool
	space    claimed
}

// Reserve implements Reserver: it provides for the n bytes after what this writer wrote.
func (w *partialWriter) Reserve(n int64) error {
	_, err := w.space.reserve(w.f, w.base+w.n, n, w.prealloc)
	return err
}

func (w *partialWriter) Write(b []byte) (int, error) {
	if err := w.space.ensure(w.base+w.n, int64(len(b))); err != nil {
		return 0, err
	}
	n, err := w.f.Write(b)
	w.n += int64(n)
	w.space.wrote(int64(n))
	if err != nil {
		return n, mapErr("write", err)
	}
	if w.flusher != nil {
		if err := w.flusher.wrote(w.flusher.base + w.n); err != nil {
			return n, mapErr("write back", err)
		}
	}
	return n, nil
}

// link publishes src under files/name with no-replace semantics and syncs the directories
// the new entry depends on. It is the one commit step shared by plain and resumable uploads.
// The file's record in the expiry index (expires: its own expiry, zero for none) is written
// first, so that no stored file lacks one.
func (l *Local) link(src, name string, expires time.Time) error {
	if err := l.record(name, time.Now(), expires); err != nil {
		return err
	}
	dst := filePath(name)
	dir := path.Dir(dst)
	// The reaper prunes empty directories; one may vanish between MkdirAll and Link, so try
	// again a few times before calling it an error.
	var err error
	for range 3 {
		if err = l.root.MkdirAll(dir, 0o750); err != nil {
			if errors.Is(err, fs.ErrExist) || errors.Is(err, syscall.ENOTDIR) {
				return fmt.Errorf("%w: a path component is a file", ErrExists)
			}
			return mapErr("create directory", err)
		}
		if err = l.root.Link(src, dst); !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return ErrExists
		}
		return mapErr("link", err)
	}
	return l.syncUp(dir)
}

// syncUp syncs, with storage.fsync, every directory from dir (under files/) up to files/:
// any of them may be new.
func (l *Local) syncUp(dir string) error {
	if !l.opts.Fsync {
		return nil
	}
	for d := dir; ; d = path.Dir(d) {
		if err := l.syncDir(d); err != nil {
			return mapErr("sync directory", err)
		}
		if d == filesDir {
			return nil
		}
	}
}
