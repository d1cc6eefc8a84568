package storage

import (
	"context"
	"encoding/hex"
	"errors"
	"hash"
	"io/fs"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

type localWriter struct {
	store   *Local
	name    string
	tmp     string
	f       *os.File
	hash    hash.Hash
	flusher *rangeFlusher
	n       int64
	alloc   int64 // end of the space fallocate reserved (0: none)
	space   claimed
	done    bool
}

// Reserver is an optional capability of the writers a store hands out (Create's Writer and
// Partial.AppendAt's io.Writer): provide for the next n bytes before they arrive, when the
// length is announced. On local disk that claims them against storage.min_free and, with
// storage.preallocate, allocates them (fallocate): a full device, or a write that would
// cross the floor, is ErrNoSpace before any byte of the body is read, so the caller can
// answer 507 at once; a filesystem without fallocate(2) is not an error. The allocation is
// fallocate mode 0, which also sets the file's size to the current position + n at once:
// measured on ext4 (bench/README.md, "Ingest: what we tried") it takes 4-28 % off the CPU of
// a durable 1 GiB PUT and 1-16 % off its time, because the writes no longer extend the file
// (FALLOC_FL_KEEP_SIZE gained nothing). So bytes past what was written read as zeros until
// the data arrives: a Writer trims them at Commit, and a Partial's caller must Truncate to
// what it wrote when an append ends short (Commit truncates to the committed length
// anyway). On object storage it sizes the first buffer.
//
// Without a reservation, a local writer claims space against the floor a slab at a time as
// it writes, so a body of unannounced length cannot cross the floor either.
type Reserver interface {
	Reserve(n int64) error
}

var (
	_ Reserver = (*localWriter)(nil)
	_ Reserver = (*partialWriter)(nil)
)

// Reserve implements Reserver.
func (w *localWriter) Reserve(n int64) error {
	if w.done {
		return errors.New("storage: reserve after commit or abort")
	}
	allocated, err := w.space.reserve(w.f, w.n, n, w.store.opts.Preallocate)
	if err != nil {
		return err
	}
	if allocated {
		w.alloc = max(w.alloc, w.n+n)
	}
	return nil
}

// fallocate is a variable so tests can make the device full.
var fallocate = unix.Fallocate

// preallocate allocates [off, off+n) of f (see Reserver) and reports whether it did. On
// failure it gives back what a partly successful fallocate took, by truncating to off,
// which is the file's size when the writers call it.
func preallocate(f *os.File, off, n int64) (bool, error) {
	if n <= 0 {
		return false, nil
	}
	var err error
	for {
		if err = fallocate(int(f.Fd()), 0, off, n); !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.ENOSYS), errors.Is(err, syscall.EINVAL):
		return false, nil // not supported here: the writes allocate as they go
	}
	f.Truncate(off)
	return false, mapErr("preallocate", err)
}

// Write appends to the temporary file. localWriter is deliberately not an io.ReaderFrom, so a
// copy into it uses the caller's buffer size (os.File.ReadFrom would copy in 32 KiB pieces).
func (w *localWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, errors.New("storage: write after commit or abort")
	}
	if err := w.space.ensure(w.n, int64(len(p))); err != nil {
		return 0, err
	}
	n, err := w.f.Write(p)
	if w.hash != nil {
		w.hash.Write(p[:n])
	}
	w.n += int64(n)
	w.space.wrote(int64(n))
	if err != nil {
		return n, mapErr("write", err)
	}
	if w.flusher != nil {
		if err := w.flusher.wrote(w.n); err != nil {
			return n, mapErr("write back", err)
		}
	}
	return n, nil
}

func (w *localWriter) Written() int64 { return w.n }

// Commit implements Writer: sync the data, link it under its name (link fails if the name
// exists, which is the no-replace guarantee), drop the temporary name, sync the directories,
// then write the sidecar. The data is committed before its sidecar so that only the winner of
// a race ever writes metadata; a crash in between leaves a file whose metadata is derived.
func (w *localWriter) Commit(_ context.Context, meta Meta) (Meta, error) {
	if w.done {
		return Meta{}, errors.New("storage: commit after commit or abort")
	}
	defer w.Abort()
	l := w.store
	if w.alloc > w.n {
		// Fewer bytes arrived than were reserved: the file ends where the data does.
		if err := w.f.Truncate(w.n); err != nil {
			return Meta{}, mapErr("truncate", err)
		}
	}
	meta.Name = w.name
	meta.Size = w.n
	if w.hash != nil {
		meta.SHA256 = hex.EncodeToString(w.hash.Sum(nil))
	}
	// The same bytes stored already: link them, and this copy need not even be synced.
	if linked, err := l.linkTwin(meta.SHA256, w.n, w.name, meta); err != nil || linked {
		if err != nil {
			return Meta{}, err
		}
		w.done = true
		w.f.Close()
		l.root.Remove(w.tmp)
		return l.finishCommit(w.name, meta, time.Now()), nil
	}
	if l.opts.Fsync {
		if err := unix.Fdatasync(int(w.f.Fd())); err != nil {
			return Meta{}, mapErr("sync", err)
		}
	}
	if err := w.f.Close(); err != nil {
		return Meta{}, mapErr("close", err)
	}
	if err := l.link(w.tmp, w.name, meta.Expires); err != nil {
		return Meta{}, err
	}
	w.done = true
	l.root.Remove(w.tmp)
	l.indexContent(meta.SHA256, w.name)
	return l.finishCommit(w.name, meta, time.Time{}), nil
}

// finishCommit stamps a committed file's metadata with its time and writes the sidecar. The
// file is committed whatever happens to its sidecar: without one it is served with metadata
// derived from the file, so a failure here must not fail the upload. created, when not zero,
// is the time (a link to bytes stored earlier, whose file time is theirs); else the file's.
func (l *Local) finishCommit(name string, meta Meta, created time.Time) Meta {
	if !created.IsZero() {
		meta.Created = created
	} else if st, err := l.root.Stat(filePath(name)); err == nil {
		meta.Created = st.ModTime()
	} else {
		meta.Created = time.Now()
	}
	_ = l.writeMeta(meta)
	l.files.Add(1)
	l.bytes.Add(meta.Size)
	l.Charge(meta.Uploader, meta.Size, meta.Created)
	return meta
}

func (w *localWriter) Abort() error {
	w.space.release()
	if w.f != nil {
		w.f.Close()
	}
	if w.done {
		return nil
	}
	w.done = true
	if err := w.store.root.Remove(w.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return mapErr("remove temporary file", err)
	}
	return nil
}

// rangeFlusher starts writeback while an upload streams in, so the final fdatasync has
// little left to do: every window of flushWindow bytes is handed to the kernel with
// SYNC_FILE_RANGE_WRITE as soon as it is complete, and the window two steps back is waited
// on, which bounds the dirty pages one upload can hold to about three windows.
type rangeFlusher struct {
	fd      int
	base    int64 // file offset where this writer started
	started int64 // bytes [0, started) have had writeback started
	waited  int64 // bytes [0, waited) are written back
	broken  bool  // sync_file_range unsupported here: leave it all to fdatasync
}

const flushWindow = 8 << 20

func newRangeFlusher(f *os.File) *rangeFlusher { return newRangeFlusherAt(f, 0) }

// newRangeFlusherAt starts at offset; wrote then takes absolute file positions.
func newRangeFlusherAt(f *os.File, offset int64) *rangeFlusher {
	return &rangeFlusher{fd: int(f.Fd()), base: offset, started: offset, waited: offset}
}

func (r *rangeFlusher) wrote(total int64) error {
	if r.broken {
		return nil
	}
	for total-r.started >= flushWindow {
		err := unix.SyncFileRange(r.fd, r.started, flushWindow, unix.SYNC_FILE_RANGE_WRITE)
		if err != nil {
			if errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ESPIPE) {
				r.broken = true
				return nil
			}
			return err
		}
		r.started += flushWindow
		if lag := r.started - 2*flushWindow; lag > r.waited && lag > r.base {
			err := unix.SyncFileRange(r.fd, r.waited, lag-r.waited,
				unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
			if err != nil {
				return err
			}
			r.waited = lag
		}
	}
	return nil
}
