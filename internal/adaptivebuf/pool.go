package adaptivebuf

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"math/bits"
	"sync"
	"time"
)

// Size classes: every buffer is a power of two between MinClass and MaxClass bytes.
const (
	MinClass = 16 << 10
	MaxClass = 4 << 20
	// NumClasses is how many size classes there are.
	NumClasses = 9
)

// ErrBudget is returned when no buffer fits the budget and the policy does not wait, or the
// wait ended without one (Options.MaxWait). Callers map it to "busy, retry later".
var ErrBudget = errors.New("adaptivebuf: memory budget exhausted")

// Policy says what Acquire does when the wanted class does not fit the budget.
type Policy int

const (
	// Downgrade takes the largest smaller class that fits (down to the pool's minimum) and
	// waits only when not even that fits.
	Downgrade Policy = iota
	// Wait queues for the wanted class (FIFO) until it fits, the context ends or MaxWait
	// passes.
	Wait
	// Refuse takes the largest class that fits, like Downgrade, but fails with ErrBudget
	// instead of waiting.
	Refuse
)

// ParsePolicy reads a policy name as configuration spells it: downgrade, wait or refuse.
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "downgrade":
		return Downgrade, nil
	case "wait":
		return Wait, nil
	case "refuse":
		return Refuse, nil
	}
	return 0, fmt.Errorf("adaptivebuf: unknown policy %q (want wait, downgrade or refuse)", s)
}

func (p Policy) String() string {
	return [...]string{"downgrade", "wait", "refuse"}[p]
}

// Options configure a Pool.
type Options struct {
	// Budget is the most bytes of buffers, lent or kept for reuse, the pool accounts at once.
	Budget int64
	// Min and Max bound the classes handed out; both are rounded to classes within
	// [MinClass, MaxClass], and Max is lowered to the largest class the budget holds.
	Min, Max int
	// Policy applies when the wanted class does not fit.
	Policy Policy
	// MaxWait bounds a wait for a buffer; 0 waits as long as the context allows.
	MaxWait time.Duration
}

// Buffer is a byte slice on loan from a Pool. Return it with Pool.Release exactly once.
type Buffer struct {
	B     []byte
	class int
	// reserved is the size of a reservation (TryReserve), which has no B; 0 for a buffer.
	reserved int64
}

// waiter is one Acquire queued for a buffer. grant is buffered so the releaser never blocks;
// served is set under the pool's lock when a grant is sent.
type waiter struct {
	want, min int // classes
	grant     chan *Buffer
	served    bool
}

// Pool lends buffers under a global budget; it is safe for concurrent use.
type Pool struct {
	budget     int64
	min, max   int // classes
	policy     Policy
	maxWait    time.Duration
	mu         sync.Mutex
	free       [NumClasses][]*Buffer
	held       int64 // lent + kept: never above budget
	inUse      int64
	queue      list.List // of *waiter, FIFO
	acquires   int64
	waits      int64
	waitTime   time.Duration
	downgrades int64
	refusals   int64
	cancels    int64
	resizes    int64
}

// New builds a Pool. A budget below one buffer of the minimum class is raised to it, so a
// lone transfer can always proceed; configuration validation should refuse such budgets.
func New(o Options) *Pool {
	p := &Pool{budget: o.Budget, policy: o.Policy, maxWait: o.MaxWait}
	p.min, p.max = classOf(o.Min), classOf(o.Max)
	if o.Max <= 0 {
		p.max = NumClasses - 1
	}
	if p.budget < MinClass {
		p.budget = MinClass
	}
	for p.max > 0 && int64(ClassSize(p.max)) > p.budget {
		p.max--
	}
	if p.min > p.max {
		p.min = p.max
	}
	return p
}

// ClassSize is the size in bytes of class c.
func ClassSize(c int) int { return MinClass << c }

// classOf is the smallest class holding n bytes, clamped to the existing classes.
func classOf(n int) int {
	if n <= MinClass {
		return 0
	}
	c := bits.Len(uint(n-1)) - bits.Len(uint(MinClass-1))
	return min(c, NumClasses-1)
}

// RoundSize is the buffer size Acquire would aim at for a request of n bytes, within the
// pool's bounds (it may still hand out less under pressure).
func (p *Pool) RoundSize(n int) int { return ClassSize(p.clamp(classOf(n))) }

// MinSize and MaxSize are the smallest and largest buffers the pool hands out.
func (p *Pool) MinSize() int { return ClassSize(p.min) }

// MaxSize is the largest buffer the pool hands out.
func (p *Pool) MaxSize() int { return ClassSize(p.max) }

// Budget is the byte budget.
func (p *Pool) Budget() int64 { return p.budget }

func (p *Pool) clamp(c int) int { return max(p.min, min(c, p.max)) }

// Acquire lends a buffer of about want bytes (rounded up to a class within the pool's
// bounds), or less under pressure as the policy allows. It waits only while the context
// lives and at most MaxWait; a wait that ends without a buffer returns ErrBudget (wrapped)
// or the context's cause.
func (p *Pool) Acquire(ctx context.Context, want int) (*Buffer, error) {
	wantC := p.clamp(classOf(want))
	minC := p.min
	if p.policy == Wait {
		minC = wantC
	}
	p.mu.Lock()
	p.acquires++
	if p.queue.Len() == 0 {
		if b := p.grantLocked(wantC, minC); b != nil {
			p.mu.Unlock()
			return b.alloc(), nil
		}
	}
	if p.policy == Refuse {
		p.refusals++
		p.mu.Unlock()
		return nil, ErrBudget
	}
	w := &waiter{want: wantC, min: minC, grant: make(chan *Buffer, 1)}
	el := p.queue.PushBack(w)
	p.waits++
	p.mu.Unlock()
	return p.wait(ctx, w, el)
}

// TryReserve takes n bytes of the budget for memory the caller allocates and keeps itself
// (an object store's part buffers, larger than any class) if they fit now and nobody is
// waiting; otherwise it returns nil at once. It never queues: a caller that waits for
// that much, trying again now and then, must not hold up the smaller buffers behind it. n
// above the whole budget is ErrBudget. The reservation is given back with Release.
func (p *Pool) TryReserve(n int64) (*Buffer, error) {
	if n <= 0 {
		return nil, fmt.Errorf("adaptivebuf: reservation of %d bytes", n)
	}
	if n > p.budget {
		return nil, fmt.Errorf("%w: %d bytes wanted, the whole budget is %d", ErrBudget, n, p.budget)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.acquires++
	if p.queue.Len() > 0 {
		return nil, nil
	}
	return p.reserveLocked(n), nil
}

// Policy is what the pool does when a buffer does not fit.
func (p *Pool) Policy() Policy { return p.policy }

// MaxWait bounds a wait for a buffer (0: as long as the caller's context allows).
func (p *Pool) MaxWait() time.Duration { return p.maxWait }

// reserveLocked takes n bytes of the budget, dropping kept buffers to make room, or returns
// nil when they are lent out.
func (p *Pool) reserveLocked(n int64) *Buffer {
	if p.inUse+n > p.budget {
		return nil
	}
	p.dropKeptLocked(n)
	p.held += n
	p.inUse += n
	return &Buffer{class: -1, reserved: n}
}

func (p *Pool) wait(ctx context.Context, w *waiter, el *list.Element) (*Buffer, error) {
	start := time.Now()
	var expired <-chan time.Time
	if p.maxWait > 0 {
		t := time.NewTimer(p.maxWait)
		defer t.Stop()
		expired = t.C
	}
	var cause error
	select {
	case b := <-w.grant:
		p.noteWait(start)
		return b.alloc(), nil
	case <-ctx.Done():
		cause = context.Cause(ctx)
	case <-expired:
		cause = fmt.Errorf("%w: no buffer within %v", ErrBudget, p.maxWait)
	}
	p.mu.Lock()
	if w.served {
		// A release granted us a buffer as we gave up: pass it on, so no wake-up is lost.
		p.mu.Unlock()
		p.Release(<-w.grant)
	} else {
		p.queue.Remove(el)
		p.cancels++
		// The head may have been the only waiter too large to serve; those behind it may fit.
		p.serveLocked()
		p.mu.Unlock()
	}
	p.noteWait(start)
	return nil, cause
}

func (p *Pool) noteWait(start time.Time) {
	d := time.Since(start)
	p.mu.Lock()
	p.waitTime += d
	p.mu.Unlock()
}

// TryAcquire lends a buffer of exactly the class of want if it fits now and nobody is
// waiting; otherwise it returns nil at once. It is for growing a buffer mid-transfer, which
// must never make anyone wait.
func (p *Pool) TryAcquire(want int) *Buffer {
	c := p.clamp(classOf(want))
	p.mu.Lock()
	var b *Buffer
	if p.queue.Len() == 0 {
		b = p.grantLocked(c, c)
	}
	p.mu.Unlock()
	return b.alloc()
}

// Release returns a buffer lent by Acquire or TryAcquire, or a reservation of TryReserve,
// and serves waiters, in FIFO order, with what is now free. The caller must not use b afterwards. Release(nil) does nothing.
func (p *Pool) Release(b *Buffer) {
	if b == nil {
		return
	}
	p.mu.Lock()
	if b.reserved > 0 {
		p.inUse -= b.reserved
		p.held -= b.reserved
	} else {
		p.inUse -= int64(ClassSize(b.class))
		p.free[b.class] = append(p.free[b.class], b)
	}
	p.serveLocked()
	p.mu.Unlock()
}

// serveLocked hands buffers to waiters from the head of the queue for as long as the head
// can be served; each served waiter is woken once, and nobody else is.
func (p *Pool) serveLocked() {
	for p.queue.Len() > 0 {
		el := p.queue.Front()
		w := el.Value.(*waiter)
		b := p.grantLocked(w.want, w.min)
		if b == nil {
			return
		}
		p.queue.Remove(el)
		w.served = true
		w.grant <- b
	}
}

// grantLocked lends the largest class in [minC, wantC] that is kept or fits the budget,
// dropping kept buffers of other classes to make room. The returned Buffer may still need
// its memory (alloc), which happens outside the lock.
func (p *Pool) grantLocked(wantC, minC int) *Buffer {
	for c := wantC; c >= minC; c-- {
		if b := p.takeLocked(c); b != nil {
			if c < wantC {
				p.downgrades++
			}
			return b
		}
	}
	return nil
}

func (p *Pool) takeLocked(c int) *Buffer {
	size := int64(ClassSize(c))
	if n := len(p.free[c]); n > 0 {
		b := p.free[c][n-1]
		p.free[c][n-1] = nil
		p.free[c] = p.free[c][:n-1]
		p.inUse += size
		return b
	}
	if p.inUse+size > p.budget {
		return nil
	}
	p.dropKeptLocked(size)
	p.held += size
	p.inUse += size
	return &Buffer{class: c}
}

// dropKeptLocked drops kept buffers, largest first, until size more bytes fit the budget.
func (p *Pool) dropKeptLocked(size int64) {
	for k := NumClasses - 1; k >= 0 && p.held+size > p.budget; k-- {
		for len(p.free[k]) > 0 && p.held+size > p.budget {
			n := len(p.free[k])
			p.free[k][n-1] = nil
			p.free[k] = p.free[k][:n-1]
			p.held -= int64(ClassSize(k))
		}
	}
}

// alloc gives a fresh Buffer its memory; a kept one already has it.
func (b *Buffer) alloc() *Buffer {
	if b != nil && b.B == nil && b.reserved == 0 {
		b.B = make([]byte, ClassSize(b.class))
	}
	return b
}

// InUse is how many bytes of buffers are lent out now.
func (p *Pool) InUse() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inUse
}

// Stats is a snapshot of the pool's counters.
type Stats struct {
	Budget     int64         // the byte budget
	InUse      int64         // bytes lent out
	Held       int64         // bytes lent out or kept for reuse (never above Budget)
	Waiting    int           // Acquires queued now
	Acquires   int64         // Acquire calls
	Waits      int64         // Acquires that had to queue
	WaitTime   time.Duration // total time spent queued
	Downgrades int64         // buffers lent smaller than asked
	Refusals   int64         // Acquires refused at once (Refuse policy)
	Cancels    int64         // queued Acquires that ended without a buffer
	Resizes    int64         // buffers exchanged for another class by Resize
}

// Stats returns a snapshot of the counters.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{
		Budget: p.budget, InUse: p.inUse, Held: p.held, Waiting: p.queue.Len(),
		Acquires: p.acquires, Waits: p.waits, WaitTime: p.waitTime,
		Downgrades: p.downgrades, Refusals: p.refusals, Cancels: p.cancels, Resizes: p.resizes,
	}
}

// Resize exchanges b for a buffer of about want bytes without ever waiting: a smaller class
// is always granted (it fits in the room b leaves, and the room left over serves waiters), a
// larger one only when the budget has room now and nobody is waiting. It returns b itself
// when nothing changes. The contents are not carried over.
func (p *Pool) Resize(b *Buffer, want int) *Buffer {
	c := p.clamp(classOf(want))
	if b == nil || c == b.class {
		return b
	}
	p.mu.Lock()
	if c > b.class && p.queue.Len() > 0 {
		p.mu.Unlock()
		return b
	}
	if c < b.class {
		p.inUse -= int64(ClassSize(b.class))
		p.free[b.class] = append(p.free[b.class], b)
	}
	nb := p.takeLocked(c)
	if c > b.class {
		if nb == nil {
			p.mu.Unlock()
			return b
		}
		p.inUse -= int64(ClassSize(b.class))
		p.free[b.class] = append(p.free[b.class], b)
	}
	p.resizes++
	p.serveLocked()
	p.mu.Unlock()
	return nb.alloc()
}
