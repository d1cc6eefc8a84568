package adaptivebuf

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"
)

// FuzzPoolInvariants drives a pool with a sequence of acquires (each in its own goroutine,
// so it may queue), resizes, releases and cancellations, and checks after every step, once the
// goroutines have settled, that the pool is within budget, that lent bytes are accounted
// exactly, and that nobody waits while nothing is lent (a lost wake-up). At the end every
// acquirer must have been served or cancelled.
func FuzzPoolInvariants(f *testing.F) {
	f.Add([]byte{0x00, 0x13, 0x27, 0x80, 0x81, 0xc0, 0x05, 0x88})
	f.Add([]byte{0x01, 0x08, 0x08, 0x08, 0x08, 0x80, 0xc1, 0x80, 0x80})
	f.Add([]byte{0x02, 0x7f, 0x7f, 0xc0, 0xc0, 0x80, 0x11})
	f.Add([]byte{0x04, 0x0f, 0x0e, 0x07, 0x80, 0x0d, 0xc0, 0x80, 0x80})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) < 1 || len(ops) > 64 {
			return
		}
		pol := Policy(int(ops[0]) % 3)
		p := New(Options{Budget: int64(ops[0]>>2%8+1) * 512 * KiB, Policy: pol})
		h := &harness{p: p}
		for _, op := range ops[1:] {
			switch op >> 6 {
			case 0: // acquire class op&7 (0..7), or with bit 3 try to reserve 1.5 times its size
				h.acquire(ClassSize(int(op&7)), op&8 != 0)
			case 1: // resize the op&7-th held buffer to class op>>3&7
				h.resize(int(op&7), ClassSize(int(op>>3&7)))
			case 2: // release the op&63-th held buffer
				h.release(int(op & 63))
			case 3: // cancel the op&63-th pending acquire
				h.cancel(int(op & 63))
			}
			h.settle(t)
			h.check(t)
		}
		h.cancelAll()
		h.settle(t)
		for h.release(0) {
			h.settle(t)
		}
		h.wg.Wait()
		if s := p.Stats(); s.InUse != 0 || s.Waiting != 0 || s.Held > s.Budget {
			t.Fatalf("end state %+v", s)
		}
	})
}

type harness struct {
	p       *Pool
	wg      sync.WaitGroup
	mu      sync.Mutex
	started int
	ended   int
	held    []*Buffer
	pending []*acquirer
}

// acquirer is one Acquire started by the harness. A cancelled one still queued will wake,
// leave the queue and maybe serve the next waiter: the harness is not settled until it ends.
type acquirer struct {
	cancel          context.CancelFunc
	cancelled, done bool
}

func (h *harness) acquire(size int, reserve bool) {
	ctx, cancel := context.WithCancel(context.Background())
	h.mu.Lock()
	h.started++
	a := &acquirer{cancel: cancel}
	h.pending = append(h.pending, a)
	h.mu.Unlock()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		var b *Buffer
		var err error
		if reserve {
			if b, err = h.p.TryReserve(int64(size + size/2)); b == nil && err == nil {
				err = ErrBudget // did not fit now: TryReserve never waits
			}
		} else {
			b, err = h.p.Acquire(ctx, size)
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		h.ended++
		a.done = true
		if err == nil {
			h.held = append(h.held, b)
		}
	}()
}

func (h *harness) release(i int) bool {
	h.mu.Lock()
	if len(h.held) == 0 {
		h.mu.Unlock()
		return false
	}
	i %= len(h.held)
	b := h.held[i]
	h.held = append(h.held[:i], h.held[i+1:]...)
	h.mu.Unlock()
	h.p.Release(b)
	return true
}

func (h *harness) resize(i, size int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.held) == 0 {
		return
	}
	i %= len(h.held)
	if h.held[i].reserved == 0 {
		h.held[i] = h.p.Resize(h.held[i], size)
	}
}

func (h *harness) cancel(i int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.pending) > 0 {
		a := h.pending[i%len(h.pending)]
		a.cancel()
		a.cancelled = true
	}
}

func (h *harness) cancelAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range h.pending {
		a.cancel()
		a.cancelled = true
	}
}

// settle waits until every cancelled acquirer has returned and every other one has either
// returned or is queued in the pool.
func (h *harness) settle(t *testing.T) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.mu.Lock()
		running := h.started - h.ended
		for _, a := range h.pending {
			if a.cancelled && !a.done {
				running = -1
			}
		}
		h.mu.Unlock()
		if running == h.p.Stats().Waiting {
			// Re-read: a waiter served just now leaves the queue before it returns.
			h.mu.Lock()
			same := h.started-h.ended == running
			h.mu.Unlock()
			if same {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("acquirers neither returned nor queued: lost wake-up or deadlock")
		}
		runtime.Gosched()
	}
}

func (h *harness) check(t *testing.T) {
	h.mu.Lock()
	var lent int64
	for _, b := range h.held {
		lent += int64(len(b.B)) + b.reserved
	}
	h.mu.Unlock()
	s := h.p.Stats()
	if s.Held > s.Budget || s.InUse > s.Held {
		t.Fatalf("over budget: %+v", s)
	}
	if s.InUse != lent {
		t.Fatalf("pool says %d bytes lent, holders have %d", s.InUse, lent)
	}
	if s.Waiting > 0 && s.InUse == 0 {
		t.Fatalf("%d waiting while nothing is lent: a wake-up was lost", s.Waiting)
	}
}
