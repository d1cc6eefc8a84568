package storage

import (
	"context"
	"io"
	"io/fs"
	"os"
	"time"
)

// Backend is what one storage backend offers, declared by the backend itself (its Backend
// method) rather than discovered by probing a store for interfaces: the core every backend
// has, and the capabilities it may lack, each nil or zero when it does. The rest of the
// program reads a Backend; this file is the only place that asks a value what it can do.
//
// A new backend is a package with a store that fills in a Backend, and one line where the
// program opens storage by its configured name.
type Backend struct {
	// Name is the configured name ("local", "s3") and Where says where the files are, for
	// the start-up log.
	Name, Where string

	// The core: every backend keeps complete files, the partial data of resumable uploads,
	// and removes expired files.
	Store    Store
	Partials Partials
	Reaper   Reaper

	// Presigner serves a file itself at a signed URL (downloads may be redirected there).
	Presigner Presigner
	// Space tells the room left above the free-space floor (storage.min_free), claimed by
	// uploads before they write.
	Space Space
	// Files reports deletes and describes data files cheaply: a cache of downloads needs it.
	Files FileSource
	// Usage counts the files and bytes stored and the disk's space, for the metrics.
	Usage Usage
	// List lists the stored files with their metadata (the admin API).
	List Lister
	// Quota is the book of daily upload volume the backend charges each commit to
	// (limits.daily_quota): the local store keeps its own; an object store is given one.
	Quota QuotaBook
	// Root is the directory the files live in, where a single node may keep its session
	// records beside them.
	Root *os.Root
	// ReadsPartials: partial data reads back (PartialReader), so partial uploads can be
	// concatenated.
	ReadsPartials bool
	// PartSize is the unit the backend writes in (an object store's multipart part): an
	// append is best a whole number of them. 0: any size.
	PartSize int64
}

// Reaper removes expired files (upload.ttl, and the lifetime a file was stored with).
type Reaper interface {
	Reap(ctx context.Context, now time.Time, ttl time.Duration, dryRun bool) (ReapResult, error)
}

// FileSource is what a cache of downloads needs of a store: to hear of deletes, and to
// notice files replaced behind its back.
type FileSource interface {
	DeleteNotifier
	FileStatter
}

// Usage is what the metrics read of a store: its usage, the filesystem's space, and what
// deduplication saved.
type Usage interface {
	Usage() (files, bytes int64)
	DiskSpace() (free, total int64, err error)
	Deduplicated() (files, bytes int64)
}

// Reserve claims n bytes for w's upload before they are written, when the writer's backend
// provides for them (space on disk above min_free, a buffer); reserved tells whether it did.
func Reserve(w io.Writer, n int64) (reserved bool, err error) {
	r, ok := w.(Reserver)
	if !ok {
		return false, nil
	}
	return true, r.Reserve(n)
}

// AlignerOf is the part boundary w writes at, nil when it writes at any offset.
func AlignerOf(w io.Writer) Aligner {
	a, _ := w.(Aligner)
	return a
}

// ReaderOf reads back p's acknowledged bytes; ok is false when its backend cannot (see
// Backend.ReadsPartials).
func ReaderOf(p Partial) (r io.ReaderAt, ok bool) {
	pr, ok := p.(PartialReader)
	return pr, ok
}

// UploadersOf lists the uploaders of the day in book, when it can (ok false otherwise).
func UploadersOf(book QuotaBook) (UploaderLister, bool) {
	l, ok := book.(UploaderLister)
	return l, ok
}

// ContentInfo describes the open data of o (an *os.File's Stat), nil when its backend's
// content is not a file: a cache of downloads compares it with FileSource.StatFile.
func ContentInfo(o Object) fs.FileInfo {
	st, ok := o.Content().(interface{ Stat() (fs.FileInfo, error) })
	if !ok {
		return nil
	}
	fi, _ := st.Stat()
	return fi
}

// Backend declares what the local store offers: everything but presigned URLs and parts.
func (l *Local) Backend() Backend {
	return Backend{
		Name: "local", Where: l.root.Name(),
		Store: l, Partials: l, Reaper: l,
		Space: l, Files: l, Usage: l, Quota: l, Root: l.root, List: l,
		ReadsPartials: true,
	}
}
