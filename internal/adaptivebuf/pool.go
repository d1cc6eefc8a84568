package adaptivebuf

import (
	"sync"
	"sync/atomic"
)

// Buffer is a byte slice on loan from a Pool. Return it with Pool.Release.
type Buffer struct {
	B []byte
}

// Pool recycles buffers of one size.
type Pool struct {
	size  int
	free  sync.Pool
	inUse atomic.Int64
}

// NewPool returns a pool of buffers of size bytes.
func NewPool(size int) *Pool {
	p := &Pool{size: size}
	p.free.New = func() any { return &Buffer{B: make([]byte, size)} }
	return p
}

// Size is the size of the buffers this pool hands out.
func (p *Pool) Size() int { return p.size }

// Acquire lends a buffer.
func (p *Pool) Acquire() *Buffer {
	p.inUse.Add(int64(p.size))
	return p.free.Get().(*Buffer)
}

// Release returns a buffer lent by Acquire. The caller must not use it afterwards.
func (p *Pool) Release(b *Buffer) {
	p.inUse.Add(-int64(len(b.B)))
	p.free.Put(b)
}

// InUse is how many bytes of buffers are lent out now.
func (p *Pool) InUse() int64 { return p.inUse.Load() }
