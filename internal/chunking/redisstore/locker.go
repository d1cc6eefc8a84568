package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"fileserver/internal/chunking"
)

const (
	// pollInterval is how often a waiter tries the lock without being told it was released:
	// a lost message costs at most this, a dead holder its lease and this.
	pollInterval = 75 * time.Millisecond
	// recutInterval is how often a waiter asks the same holder again to stop, in case the
	// request was lost or the holder was between reads.
	recutInterval = 250 * time.Millisecond
)

// holding is one lease held by a request of this process.
type holding struct {
	token int64
	claim chunking.Claim // how a later request cuts this one off, and whether it may
	// ctx ends when the lease is released (or the Store closed): it stops the renewer.
	ctx      context.Context
	stop     context.CancelFunc
	released sync.Once
}

// acquireScript takes the lock KEYS[1] with a lease of ARGV[1] ms and a token from the
// counter KEYS[2]. It returns the token, or, when the lock is held, minus the holder's token
// (0 if unreadable), so the waiter can name the holder it asks to stop.
//
// The counter never falls behind Redis's clock in microseconds: should Redis lose it (a
// restart without persistence, a failover to a lagging replica), new tokens still exceed
// those of leases granted before, which their holders may still be fencing writes with.
var acquireScript = redis.NewScript(`
local held = redis.call("GET", KEYS[1])
if held then return -(tonumber(held) or 0) end
local token = redis.call("INCR", KEYS[2])
local now = redis.call("TIME")
local floor = now[1] * 1000000 + now[2]
if token < floor then
	token = floor
	redis.call("SET", KEYS[2], token)
end
redis.call("SET", KEYS[1], token, "PX", ARGV[1])
return token`)

// renewScript extends the lease (ARGV[2] ms) on KEYS[1] if it still holds the token ARGV[1].
var renewScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end
return 0`)

// releaseScript deletes the lock KEYS[1] if it still holds the token ARGV[1], never another's.
var releaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end
return 0`)

// Lock implements chunking.Locker across every node on the Redis. When the lock is held, it
// asks the holder to stop (its cancel, on whichever node it runs), then takes the lock as soon
// as it is released, or when the lease of a holder that can no longer answer runs out. A
// holder still receiving bytes answers that it keeps the session (unless c forces), and Lock
// returns chunking.ErrBusy.
func (s *Store) Lock(ctx context.Context, id string, c chunking.Claim) (chunking.Lease, error) {
	// Watch before the first try, so a release between the try and the wait is not missed.
	w := s.watch(id)
	defer s.unwatch(id, w)
	token, sent, err := s.acquire(ctx, id)
	if err != nil {
		return chunking.Lease{}, err
	}
	if token > 0 {
		return s.hold(ctx, id, token, sent, c, 0)
	}
	start := time.Now()
	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	var last cutRequest
	for {
		if s.askToStop(ctx, id, -token, c.Force, &last) {
			return chunking.Lease{}, chunking.ErrBusy
		}
		if err := s.awaitRetry(ctx, w, poll.C, last.holder, c.Force); err != nil {
			return chunking.Lease{}, err
		}
		if token, sent, err = s.acquire(ctx, id); err != nil {
			return chunking.Lease{}, err
		}
		if token > 0 {
			return s.hold(ctx, id, token, sent, c, time.Since(start))
		}
	}
}

// cutRequest is the holder a waiting Lock call last asked to stop, and when it asked.
type cutRequest struct {
	holder int64
	at     time.Time
}

// askToStop decides whether holder must be asked to stop: it was not the one last asked, or
// recutInterval has passed since, in case the request was lost or the holder was between
// reads. It records the request in last, and reports a holder of this process that keeps
// the session.
func (s *Store) askToStop(ctx context.Context, id string, holder int64, force bool, last *cutRequest) (busy bool) {
	if holder != last.holder || time.Since(last.at) >= recutInterval {
		if s.cutOff(ctx, id, holder, force) {
			return true
		}
		last.holder, last.at = holder, time.Now()
	}
	return false
}

// awaitRetry waits until the lock is worth trying again: a release (told here or by another
// node) or the poll, which covers a lost message and a dead holder's lease. It decides the
// wait is over for good with chunking.ErrBusy when holder, the one last asked to stop,
// answers that it keeps the session and force is off; with the cause of ctx when it ends;
// and with ErrClosed when the Store is closed.
func (s *Store) awaitRetry(ctx context.Context, w *waiter, poll <-chan time.Time, holder int64, force bool) error {
	select {
	case <-w.wake:
	case busy := <-w.busy:
		if !force && busy == holder {
			return chunking.ErrBusy
		}
	case <-poll:
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-s.ctx.Done():
		return ErrClosed
	}
	return nil
}

// acquire runs acquireScript once and returns its answer and when it was sent (the lease runs
// at least until then plus the lease).
func (s *Store) acquire(ctx context.Context, id string) (token int64, sent time.Time, err error) {
	if s.ctx.Err() != nil {
		return 0, sent, ErrClosed
	}
	if ctx.Err() != nil {
		return 0, sent, context.Cause(ctx)
	}
	// Not under ctx: a request that ends while the script runs must still learn whether it
	// took the lock, or the lock would stay taken, by nobody, for a whole lease.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.lease/2)
	defer cancel()
	sent = time.Now()
	token, err = acquireScript.Run(actx, s.rdb, []string{s.lockKey(id), s.fenceKey()}, s.lease.Milliseconds()).Int64()
	if err != nil {
		return 0, sent, fmt.Errorf("redisstore: lock session %s: %w", id, err)
	}
	return token, sent, nil
}

// hold records a lease just taken and starts renewing it.
func (s *Store) hold(ctx context.Context, id string, token int64, sent time.Time, c chunking.Claim, waited time.Duration) (chunking.Lease, error) {
	h := &holding{token: token, claim: c}
	h.ctx, h.stop = context.WithCancel(s.ctx)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.release(id, h)
		return chunking.Lease{}, ErrClosed
	}
	s.held[id] = h
	s.wg.Add(1)
	s.mu.Unlock()
	go s.renew(id, h, sent)
	lease := chunking.Lease{Fence: token, Waited: waited, Release: func() { s.release(id, h) },
		Check: func(ctx context.Context) error { return s.check(ctx, id, h) }}
	if ctx.Err() != nil {
		lease.Release()
		return chunking.Lease{}, context.Cause(ctx)
	}
	return lease, nil
}

// renew extends h's lease every Lease/3 until it is released. A lease found taken by another
// is lost at once; one that cannot be renewed (Redis unreachable) is lost when it would have
// run out. Either way the holder is cut off: its writes would be refused from then on.
func (s *Store) renew(id string, h *holding, renewed time.Time) {
	defer s.wg.Done()
	key := s.lockKey(id)
	every := s.lease / 3
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
		}
		sent := time.Now()
		ctx, cancel := context.WithDeadline(h.ctx, renewed.Add(s.lease))
		n, err := renewScript.Run(ctx, s.rdb, []string{key}, h.token, s.lease.Milliseconds()).Int()
		cancel()
		switch {
		case h.ctx.Err() != nil:
			return // released meanwhile (which may be why the token was gone)
		case err == nil && n == 1:
			renewed = sent
			t.Reset(every)
		case err == nil || time.Since(renewed) >= s.lease:
			s.lost(id, h)
			return
		default:
			t.Reset(s.lease / 10) // Redis did not answer: try again while the lease lasts
		}
	}
}

// check reports, with chunking.ErrFenced, whether h lost id's lock: released, lost by its
// renewer, or held by another token in Redis now (this node stalled past the lease). A Redis
// that does not answer fails the check too: an unverified lease must not publish data.
func (s *Store) check(ctx context.Context, id string, h *holding) error {
	s.mu.Lock()
	mine := s.held[id] == h
	s.mu.Unlock()
	if !mine || h.ctx.Err() != nil {
		return fmt.Errorf("redisstore: lease on session %s lost: %w", id, chunking.ErrFenced)
	}
	ctx, cancel := context.WithTimeout(ctx, s.lease/2)
	defer cancel()
	token, err := s.rdb.Get(ctx, s.lockKey(id)).Int64()
	switch {
	case errors.Is(err, redis.Nil) || err == nil && token != h.token:
		return fmt.Errorf("redisstore: lease on session %s taken over: %w", id, chunking.ErrFenced)
	case err != nil:
		return fmt.Errorf("redisstore: check lease on session %s: %w", id, err)
	}
	return nil
}

// lost forgets a lease the holder no longer has, and cuts the holder off.
func (s *Store) lost(id string, h *holding) {
	s.mu.Lock()
	if s.held[id] == h {
		delete(s.held, id)
	}
	s.mu.Unlock()
	if h.claim.Cancel != nil {
		h.claim.Cancel()
	}
}

// release gives h's lock up and tells the waiters. Only the first call does anything.
func (s *Store) release(id string, h *holding) {
	h.released.Do(func() { s.releaseOnce(id, h) })
}

func (s *Store) releaseOnce(id string, h *holding) {
	s.mu.Lock()
	if s.held[id] == h {
		delete(s.held, id)
	}
	s.mu.Unlock()
	h.stop()
	// Waiting longer than half a lease is pointless: the lock frees itself when it runs out.
	ctx, cancel := context.WithTimeout(context.Background(), s.lease/2)
	defer cancel()
	// An error here is not the caller's to handle: a lock left behind frees itself when its
	// lease runs out, and waiters poll for that.
	if n, _ := releaseScript.Run(ctx, s.rdb, []string{s.lockKey(id)}, h.token).Int(); n == 1 {
		s.wake(id)
		s.rdb.Publish(ctx, s.releasedChannel, id)
	}
}

// cutOff asks the request holding id's lock with token holder to stop: directly when it runs
// in this process, through the cancel channel when it may run on another node (whose answer,
// if it keeps the session, comes on the busy channel). It reports a holder of this process
// that keeps the session.
func (s *Store) cutOff(ctx context.Context, id string, holder int64, force bool) (busy bool) {
	if here, busy := s.cancelHeld(id, holder, force); here {
		return busy
	}
	f := "0"
	if force {
		f = "1"
	}
	// Not checked: the request is repeated every recutInterval while the wait lasts.
	s.rdb.Publish(ctx, s.cancelChannel, strconv.FormatInt(holder, 10)+" "+f+" "+id)
	return false
}

// cancelHeld calls the cancel of this process's holder of id's lock if its token is token
// (not of a later holder: a request that was asked to stop an earlier one must not stop
// itself), unless the holder is still receiving and force is off. It reports whether the
// holder runs here, and whether it keeps the session. The cancel runs on the caller's
// goroutine, the listener's for remote requests: as chunking asks of it, it only cuts the
// request off.
func (s *Store) cancelHeld(id string, token int64, force bool) (here, busy bool) {
	s.mu.Lock()
	h := s.held[id]
	s.mu.Unlock()
	if h == nil || h.token != token {
		return false, false
	}
	if !force && h.claim.Live(s.staleAfter) {
		return true, true
	}
	if h.claim.Cancel != nil {
		h.claim.Cancel()
	}
	return true, false
}

// listen serves the cancel and released channels until the subscription is closed.
func (s *Store) listen(msgs <-chan *redis.Message) {
	defer s.wg.Done()
	for m := range msgs {
		switch m.Channel {
		case s.cancelChannel:
			tok, rest, _ := strings.Cut(m.Payload, " ")
			force, id, _ := strings.Cut(rest, " ")
			if token, err := strconv.ParseInt(tok, 10, 64); err == nil {
				if here, busy := s.cancelHeld(id, token, force == "1"); here && busy {
					s.rdb.Publish(s.ctx, s.busyChannel, tok+" "+id)
				}
			}
		case s.releasedChannel:
			s.wake(m.Payload)
		case s.busyChannel:
			tok, id, _ := strings.Cut(m.Payload, " ")
			if token, err := strconv.ParseInt(tok, 10, 64); err == nil {
				s.signalBusy(id, token)
			}
		}
	}
}

// waiter is a Lock call of this process waiting for a lock: wake says the lock was released,
// busy names a holder that keeps it.
type waiter struct {
	wake chan struct{}
	busy chan int64
}

// watch registers a Lock call of this process as waiting for id's release.
func (s *Store) watch(id string) *waiter {
	c := &waiter{wake: make(chan struct{}, 1), busy: make(chan int64, 1)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.waiters[id] == nil {
		s.waiters[id] = map[*waiter]struct{}{}
	}
	s.waiters[id][c] = struct{}{}
	return c
}

func (s *Store) unwatch(id string, c *waiter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.waiters[id], c)
	if len(s.waiters[id]) == 0 {
		delete(s.waiters, id)
	}
}

// wake tells every Lock call of this process waiting for id to try again.
func (s *Store) wake(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.waiters[id] {
		select {
		case c.wake <- struct{}{}:
		default: // already told
		}
	}
}

// signalBusy tells every Lock call of this process waiting for id that the holder with token
// keeps it.
func (s *Store) signalBusy(id string, token int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.waiters[id] {
		select {
		case <-c.busy: // replace an older answer
		default:
		}
		c.busy <- token
	}
}
