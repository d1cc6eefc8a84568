package storage

import (
	"context"
	"io/fs"
	"sync"
)

// DeleteNotifier is implemented by stores that tell in-process listeners when a file is
// removed (by Delete or the reaper), so a cache of downloads can drop it at once, and what
// was made from its bytes (thumbnails) can go with them.
type DeleteNotifier interface {
	// OnDelete registers fn, called for every file removed from now on, after its data is
	// gone.
	OnDelete(fn func(Removed))
}

// Removed describes a file a store removed.
type Removed struct {
	Name string
	// Meta is its metadata as it was (derived from the file when it had no sidecar).
	Meta Meta
}

// FileStatter is implemented by stores that can describe a complete file's data cheaply,
// without reading its metadata: a cache of downloads uses it to notice (with os.SameFile,
// size and modification time) that another process removed or replaced a file.
type FileStatter interface {
	// StatFile returns the data file's information, or ErrNotFound.
	StatFile(ctx context.Context, name string) (fs.FileInfo, error)
}

var (
	_ DeleteNotifier = (*Local)(nil)
	_ FileStatter    = (*Local)(nil)
)

// deleteHooks are the listeners of a store's deletes.
type deleteHooks struct {
	mu  sync.RWMutex
	fns []func(Removed)
}

func (h *deleteHooks) add(fn func(Removed)) {
	h.mu.Lock()
	h.fns = append(h.fns, fn)
	h.mu.Unlock()
}

func (h *deleteHooks) notify(r Removed) {
	h.mu.RLock()
	fns := h.fns
	h.mu.RUnlock()
	for _, fn := range fns {
		fn(r)
	}
}

// OnDelete implements DeleteNotifier.
func (l *Local) OnDelete(fn func(Removed)) { l.deleted.add(fn) }

// StatFile implements FileStatter.
func (l *Local) StatFile(_ context.Context, name string) (fs.FileInfo, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	st, err := l.root.Stat(filePath(name))
	if err != nil {
		return nil, mapErr("stat", err)
	}
	if !st.Mode().IsRegular() {
		return nil, ErrNotFound
	}
	return st, nil
}
