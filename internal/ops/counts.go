package ops

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"sync"
	"time"

	"fileserver/internal/storage"
)

// CountBook keeps download counts where every node adds to them.
type CountBook interface {
	// AddDownloads adds each name's count.
	AddDownloads(ctx context.Context, add map[string]int64) error
	// Downloads reads the counts of names (missing ones are 0).
	Downloads(ctx context.Context, names []string) (map[string]int64, error)
	// ForgetDownloads drops the counts of removed files.
	ForgetDownloads(ctx context.Context, names []string) error
}

// Counts counts downloads in memory and adds them to the book every flush period, so a
// download costs a map increment under a mutex, never a write.
type Counts struct {
	book    CountBook
	mu      sync.Mutex
	pending map[string]int64
	stop    chan struct{}
	done    chan struct{}
}

// NewCounts adds to book every period until Close.
func NewCounts(book CountBook, period time.Duration) *Counts {
	c := &Counts{book: book, pending: map[string]int64{}, stop: make(chan struct{}), done: make(chan struct{})}
	go c.run(period)
	return c
}

// Add counts one download of name.
func (c *Counts) Add(name string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.pending[name]++
	c.mu.Unlock()
}

// Get returns the counts of names: the book's plus what waits to be added.
func (c *Counts) Get(ctx context.Context, names []string) (map[string]int64, error) {
	out, err := c.book.Downloads(ctx, names)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	for _, n := range names {
		out[n] += c.pending[n]
	}
	c.mu.Unlock()
	return out, nil
}

// Forget drops the counts of names (their files are removed).
func (c *Counts) Forget(ctx context.Context, names []string) error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	for _, n := range names {
		delete(c.pending, n)
	}
	c.mu.Unlock()
	return c.book.ForgetDownloads(ctx, names)
}

// Flush adds what waits to the book now.
func (c *Counts) Flush(ctx context.Context) error {
	c.mu.Lock()
	add := c.pending
	c.pending = map[string]int64{}
	c.mu.Unlock()
	if len(add) == 0 {
		return nil
	}
	if err := c.book.AddDownloads(ctx, add); err != nil {
		// Keep them for the next flush.
		c.mu.Lock()
		for n, k := range add {
			c.pending[n] += k
		}
		c.mu.Unlock()
		return err
	}
	return nil
}

func (c *Counts) run(period time.Duration) {
	defer close(c.done)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), period)
			c.Flush(ctx)
			cancel()
		case <-c.stop:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			c.Flush(ctx)
			cancel()
			return
		}
	}
}

// Close stops the flushes, after a last one.
func (c *Counts) Close() {
	if c == nil {
		return
	}
	close(c.stop)
	<-c.done
}

// FileCounts is a CountBook in a file of the data directory (one node): the counts are held
// in memory and the file rewritten on each flush that changed them.
type FileCounts struct {
	root   *os.Root
	name   string
	mu     sync.Mutex
	counts map[string]int64
}

// OpenFileCounts reads the counts kept at name in root.
func OpenFileCounts(root *os.Root, name string) (*FileCounts, error) {
	f := &FileCounts{root: root, name: name, counts: map[string]int64{}}
	data, err := root.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, err
	}
	if json.Unmarshal(data, &f.counts) != nil || f.counts == nil {
		f.counts = map[string]int64{} // counts are not worth refusing to start for
	}
	return f, nil
}

// AddDownloads implements CountBook.
func (f *FileCounts) AddDownloads(_ context.Context, add map[string]int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for n, k := range add {
		f.counts[n] += k
	}
	return f.save()
}

// Downloads implements CountBook.
func (f *FileCounts) Downloads(_ context.Context, names []string) (map[string]int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int64, len(names))
	for _, n := range names {
		out[n] = f.counts[n]
	}
	return out, nil
}

// ForgetDownloads implements CountBook.
func (f *FileCounts) ForgetDownloads(_ context.Context, names []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	changed := false
	for _, n := range names {
		if _, ok := f.counts[n]; ok {
			delete(f.counts, n)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return f.save()
}

// save writes the counts; f.mu is held. Not synced: a crash loses at most the last flushes.
func (f *FileCounts) save() error {
	data, err := json.Marshal(f.counts)
	if err != nil {
		return err
	}
	return storage.ReplaceFile(f.root, f.name+"."+storage.RandomID()+".tmp", f.name, data, false)
}
