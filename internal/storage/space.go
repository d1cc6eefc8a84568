package storage

import (
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// DiskSpace reports the free (available to this process) and total bytes of the filesystem
// that holds the data directory.
func (l *Local) DiskSpace() (free, total int64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(l.root.Name(), &st); err != nil {
		return 0, 0, mapErr("statfs", err)
	}
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Blocks) * int64(st.Bsize), nil
}

// Space is an optional capability of a Store that keeps a free-space floor (the local
// store's storage.min_free): Room is how many more bytes may be written before the floor,
// counting what uploads in progress were promised; ok is false when there is no floor (or
// the free space cannot be read), and then nothing is refused for it.
type Space interface {
	Room() (n int64, ok bool)
}

var _ Space = (*Local)(nil)

// Room implements Space.
func (l *Local) Room() (int64, bool) { return l.space.room() }

// floor keeps storage.min_free on one filesystem: its free space, less what the writers in
// progress were promised and have not written yet, must stay at or above minFree. A writer
// claims space before it writes (the whole announced length at once, or a slab at a time
// when none was announced), so a write that would cross the floor is refused before it
// happens, and two uploads cannot both take the last room.
type floor struct {
	minFree  int64
	free     func() (int64, error)
	mu       sync.Mutex // makes a check and its claim one step
	promised atomic.Int64
}

// slab is how much a writer without an announced length claims at a time: one statfs per
// slab, not per write.
const slab = 1 << 20

func (f *floor) on() bool { return f != nil && f.minFree > 0 }

func (f *floor) room() (int64, bool) {
	if !f.on() {
		return 0, false
	}
	free, err := f.free()
	if err != nil {
		return 0, false
	}
	return free - f.promised.Load() - f.minFree, true
}

// claim promises n bytes, or refuses with ErrNoSpace when they would cross the floor. It
// reports whether it counted them (they are to be given back).
func (f *floor) claim(n int64) (bool, error) {
	if !f.on() || n <= 0 {
		return false, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	room, ok := f.room()
	if !ok {
		return false, nil // the write itself finds out; a full disk is still ErrNoSpace
	}
	if room < n {
		return false, ErrNoSpace
	}
	f.promised.Add(n)
	return true, nil
}

func (f *floor) give(n int64) {
	if n > 0 {
		f.promised.Add(-n)
	}
}

// claimed is one writer's share of the floor: the file positions up to end are provided for
// (allocated by fallocate, or promised), and the last counted bytes of them are promised.
// Writes are sequential, so the promised bytes are always the ones written next.
type claimed struct {
	f       *floor
	end     int64
	counted int64
}

// ensure provides for a write of n bytes at pos, claiming a slab (or what the write needs, if
// more) past the end of what is provided for.
func (c *claimed) ensure(pos, n int64) error {
	if !c.f.on() || pos+n <= c.end {
		return nil
	}
	need := max(pos+n-max(c.end, pos), slab)
	counted, err := c.f.claim(need)
	if err != nil {
		return err
	}
	if counted {
		c.counted += need
	}
	c.end = max(c.end, pos) + need
	return nil
}

// wrote takes n written bytes off what is promised.
func (c *claimed) wrote(n int64) {
	d := min(c.counted, n)
	c.counted -= d
	c.f.give(d)
}

// release gives back everything still promised.
func (c *claimed) release() {
	c.f.give(c.counted)
	c.counted = 0
}

// reserve provides for the n bytes at pos before they arrive (Reserver): promised against
// the floor, and, with prealloc, allocated by fallocate, which the free space then shows, so
// they are no longer counted as promised. A refusal takes nothing.
func (c *claimed) reserve(f *os.File, pos, n int64, prealloc bool) (allocated bool, err error) {
	c.release()
	c.end = pos
	if n <= 0 {
		return false, nil
	}
	counted, err := c.f.claim(n)
	if err != nil {
		return false, err
	}
	if counted {
		c.counted = n
	}
	c.end = pos + n
	if !prealloc {
		return false, nil
	}
	if allocated, err = preallocate(f, pos, n); err != nil || allocated {
		c.release()
	}
	if err != nil {
		c.end = pos
	}
	return allocated, err
}
