package handlers

import (
	"container/list"
	"context"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"fileserver/internal/storage"
)

// downloadCache keeps what repeated downloads need, so that they skip the store's path walks
// (os.Root opens every path component, for the data and again for the metadata sidecar):
//   - small files, whole, in memory with their response headers ([download] small_file_cache,
//     small_file_max), least recently used evicted first;
//   - open handles of other files with their metadata, each used by one download at a time
//     so sendfile keeps its own file position ([download] open_files).
//
// Committed files never change (a commit never replaces a file), so an entry is good until its
// file is removed. Deletes by this process (Delete, the reaper) drop entries at once through
// the store's DeleteNotifier; a delete by another process (fileserver gc) is noticed by a stat
// of the data file at most every [download] revalidate, compared with os.SameFile, size and
// modification time. Without a store that offers both capabilities nothing is cached.
type downloadCache struct {
	store    storage.Store
	stat     func(ctx context.Context, name string) (fs.FileInfo, error)
	interval time.Duration
	maxBytes int64 // small-file cache bound; 0: off
	maxFile  int64
	maxOpen  int // idle handles kept; 0: off

	mu sync.Mutex
	// epoch counts deletes: an entry filled (or a handle taken) before a delete that ran
	// meanwhile is not kept, since it may be of the removed file.
	epoch uint64
	small map[string]*list.Element // of *smallFile
	lru   list.List                // front: most recently used
	used  int64
	idle  map[string][]*openFile
	order list.List // of *openFile, front: most recently returned
}

// smallFileOverhead approximates what a cached file costs beyond its bytes (header values,
// bookkeeping), so that many tiny files still respect the byte bound.
const smallFileOverhead = 512

// newDownloadCache returns nil (no caching) when the configuration turns both caches off or
// the store cannot tell of deletes and stat its files (files is nil).
func newDownloadCache(c Cache, store storage.Store, files storage.FileSource) *downloadCache {
	d := &downloadCache{
		store:    store,
		interval: c.Revalidate,
		maxOpen:  c.OpenFiles,
		small:    map[string]*list.Element{},
		idle:     map[string][]*openFile{},
	}
	if c.SmallFileCache > 0 && c.SmallFileMax > 0 {
		d.maxBytes, d.maxFile = c.SmallFileCache, c.SmallFileMax
	}
	if files == nil || (d.maxBytes == 0 && d.maxOpen == 0) {
		return nil
	}
	d.stat = files.StatFile
	files.OnDelete(func(r storage.Removed) { d.invalidate(r.Name) })
	return d
}

// smallFile is a cached small file: its bytes and everything its responses carry.
type smallFile struct {
	name    string
	body    []byte
	id      fs.FileInfo
	hdr     fileHeaders
	checked atomic.Int64 // unix nanoseconds of the last check against the disk
	cost    int64
}

// openFile is an open stored file, taken by one download at a time.
type openFile struct {
	name    string
	obj     storage.Object
	id      fs.FileInfo // nil when the store's content cannot be statted: never kept
	checked time.Time
	epoch   uint64
	elem    *list.Element // in order while idle
}

// sameFile reports whether two stats describe the same, unchanged file.
func sameFile(a, b fs.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// check reports whether an entry last checked at checked may still be used at now: without a
// stat within the interval, else when a stat shows the file is still id (then checked
// becomes now).
func (d *downloadCache) check(ctx context.Context, name string, id fs.FileInfo, checked *time.Time, now time.Time) bool {
	if now.Sub(*checked) < d.interval {
		return true
	}
	st, err := d.stat(ctx, name)
	if err != nil || !sameFile(id, st) {
		return false
	}
	*checked = now
	return true
}

// lookup returns the cached small file name, or nil.
func (d *downloadCache) lookup(ctx context.Context, name string) *smallFile {
	if d == nil || d.maxBytes == 0 {
		return nil
	}
	d.mu.Lock()
	el := d.small[name]
	if el == nil {
		d.mu.Unlock()
		return nil
	}
	d.lru.MoveToFront(el)
	d.mu.Unlock()
	f := el.Value.(*smallFile)
	checked := time.Unix(0, f.checked.Load())
	if !d.check(ctx, name, f.id, &checked, time.Now()) {
		d.mu.Lock()
		if d.small[name] == el {
			d.dropSmall(el)
		}
		d.mu.Unlock()
		return nil
	}
	if n := checked.UnixNano(); n != f.checked.Load() {
		f.checked.Store(n)
	}
	return f
}

// fits reports whether a file of size bytes goes into the small-file cache.
func (d *downloadCache) fits(size int64) bool {
	return d != nil && d.maxBytes > 0 && size <= d.maxFile
}

// fill reads an opened small file into the cache and returns its entry, or nil when it cannot
// be kept: unreadable, metadata not (yet) complete, or a delete ran since the handle was taken.
func (d *downloadCache) fill(of *openFile, hdr fileHeaders) *smallFile {
	if of.id == nil || of.id.Size() > d.maxFile || of.obj.Meta().Derived {
		// Metadata derived from the file (its sidecar is written just after the data is
		// linked): serve it, but do not keep it.
		return nil
	}
	body := make([]byte, of.id.Size())
	ra, ok := of.obj.Content().(io.ReaderAt)
	if !ok {
		return nil
	}
	if _, err := ra.ReadAt(body, 0); err != nil && !(err == io.EOF && len(body) == 0) {
		return nil
	}
	f := &smallFile{name: of.name, body: body, id: of.id, hdr: hdr,
		cost: int64(len(body)+len(of.name)) + smallFileOverhead}
	f.checked.Store(of.checked.UnixNano())
	if f.cost > d.maxBytes {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if of.epoch != d.epoch {
		return nil
	}
	if el := d.small[of.name]; el != nil {
		d.dropSmall(el)
	}
	for d.used+f.cost > d.maxBytes {
		d.dropSmall(d.lru.Back())
	}
	d.small[of.name] = d.lru.PushFront(f)
	d.used += f.cost
	return f
}

// dropSmall removes a small-file entry; d.mu is held.
func (d *downloadCache) dropSmall(el *list.Element) {
	f := d.lru.Remove(el).(*smallFile)
	delete(d.small, f.name)
	d.used -= f.cost
}

// open returns name opened for one download: a kept handle when there is a valid one, else a
// new one from the store. Give it back with done.
func (d *downloadCache) open(ctx context.Context, store storage.Store, name string) (*openFile, error) {
	if d == nil {
		obj, err := store.Open(ctx, name)
		if err != nil {
			return nil, err
		}
		return &openFile{name: name, obj: obj}, nil
	}
	now := time.Now()
	for {
		of, epoch := d.take(name)
		if of == nil {
			break
		}
		of.epoch = epoch
		if d.check(ctx, name, of.id, &of.checked, now) {
			return of, nil
		}
		of.obj.Close()
	}
	d.mu.Lock()
	epoch := d.epoch
	d.mu.Unlock()
	obj, err := store.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	of := &openFile{name: name, obj: obj, checked: now, epoch: epoch}
	of.id = storage.ContentInfo(obj)
	return of, nil
}

// take removes the most recently returned idle handle of name, with the current epoch.
func (d *downloadCache) take(name string) (*openFile, uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	hs := d.idle[name]
	if len(hs) == 0 {
		return nil, 0
	}
	of := hs[len(hs)-1]
	d.unidle(of)
	return of, d.epoch
}

// unidle removes an idle handle from the pool's indexes; d.mu is held.
func (d *downloadCache) unidle(of *openFile) {
	hs := d.idle[of.name]
	for i, h := range hs {
		if h == of {
			hs = append(hs[:i], hs[i+1:]...)
			break
		}
	}
	if len(hs) == 0 {
		delete(d.idle, of.name)
	} else {
		d.idle[of.name] = hs
	}
	d.order.Remove(of.elem)
	of.elem = nil
}

// done gives back a handle from open: kept for the next download of its file, or closed.
func (d *downloadCache) done(of *openFile) {
	if d == nil || d.maxOpen == 0 || of.id == nil || of.obj.Meta().Derived {
		// Derived metadata, see fill.
		of.obj.Close()
		return
	}
	var evicted *openFile
	d.mu.Lock()
	if of.epoch != d.epoch {
		d.mu.Unlock()
		of.obj.Close()
		return
	}
	d.idle[of.name] = append(d.idle[of.name], of)
	of.elem = d.order.PushFront(of)
	if d.order.Len() > d.maxOpen {
		evicted = d.order.Back().Value.(*openFile)
		d.unidle(evicted)
	}
	d.mu.Unlock()
	if evicted != nil {
		evicted.obj.Close()
	}
}

// close closes every idle handle and makes those in use close when their download is done.
func (d *downloadCache) close() {
	if d == nil {
		return
	}
	d.mu.Lock()
	d.epoch++ // handles taken before now are not kept when given back
	var hs []*openFile
	for el := d.order.Front(); el != nil; el = el.Next() {
		hs = append(hs, el.Value.(*openFile))
	}
	for _, of := range hs {
		d.unidle(of)
	}
	d.mu.Unlock()
	for _, of := range hs {
		of.obj.Close()
	}
}

// invalidate forgets name: its file was removed.
func (d *downloadCache) invalidate(name string) {
	d.mu.Lock()
	d.epoch++
	if el := d.small[name]; el != nil {
		d.dropSmall(el)
	}
	hs := append([]*openFile(nil), d.idle[name]...)
	for _, of := range hs {
		d.unidle(of)
	}
	d.mu.Unlock()
	for _, of := range hs {
		of.obj.Close()
	}
}

// cachedBytes is what the small-file cache holds, counted as its bound counts it.
func (d *downloadCache) cachedBytes() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.used
}
