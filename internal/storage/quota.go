package storage

import (
	"encoding/json"
	"errors"
	"maps"
	"math"
	"sync"
	"time"
)

// ErrQuota: the upload would take its uploader past limits.daily_quota, counting what it
// committed today and what its uploads in progress hold.
var ErrQuota = errors.New("storage: daily upload quota exceeded")

// QuotaBook keeps, for limits.daily_quota, the bytes each uploader committed during the
// current UTC day and the bytes its uploads in progress hold. The local store keeps its own
// book; nodes that share an object store share one (Redis).
type QuotaBook interface {
	// UsedToday is how many bytes uploader committed during now's UTC day.
	UsedToday(uploader string, now time.Time) int64
	// Charge adds n bytes committed at now to uploader's day.
	Charge(uploader string, n int64, now time.Time)
	// Hold makes upload id of uploader hold n bytes of its quota until expires (replacing
	// what id held), provided that what uploader committed today, plus what its other uploads
	// hold, plus n stays within limit, or that n is no more than id holds already. Otherwise
	// nothing changes, and room is the most id could hold. Holds past their expiry count for
	// nothing.
	Hold(uploader, id string, n, limit int64, now, expires time.Time) (ok bool, room int64)
	// Release drops what upload id of uploader holds.
	Release(uploader, id string)
}

// UploaderLister is a QuotaBook that can tell every uploader's bytes of the day (the admin
// API's list of uploaders).
type UploaderLister interface {
	UploadersToday(now time.Time) (map[string]int64, error)
}

// Quota applies limits.daily_quota over a book: an upload holds its length (or, while its
// length is unknown, what it received) from the moment it starts until it is committed,
// when the store charges it to the day, or abandoned. So uploads in progress, on any path and
// any node sharing the book, cannot together pass the quota. A nil *Quota, or one with no
// book or a Limit of 0, holds nothing and refuses nothing.
type Quota struct {
	Book QuotaBook
	// Limit is the bytes one uploader may commit per UTC day.
	Limit int64
	// HoldFor is how long a hold lasts unless renewed: an upload renews its hold with every
	// request, and while a request streams in (Keep), so only holds of uploads abandoned
	// without a trace (a crash) run out.
	HoldFor time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// keepers are the renewals Keep runs, by upload id: Release ends an upload's renewal
	// with its hold, so that a renewal due at that moment cannot make the hold again.
	keepers sync.Map // id -> *keeper
}

// keeper is one upload's renewal; released says its hold was let go (under mu, which a
// renewal holds while it renews).
type keeper struct {
	mu       sync.Mutex
	released bool
}

// On reports whether the quota is applied.
func (q *Quota) On() bool { return q != nil && q.Book != nil && q.Limit > 0 }

func (q *Quota) now() time.Time {
	if q.Now != nil {
		return q.Now()
	}
	return time.Now()
}

// Reserve makes upload id of uploader hold n bytes, or returns ErrQuota. A negative n (an
// unknown length) holds nothing; see ReserveUpTo.
func (q *Quota) Reserve(uploader, id string, n int64) error {
	if !q.On() || n < 0 || uploader == "" {
		return nil
	}
	now := q.now()
	if ok, _ := q.Book.Hold(uploader, id, n, q.Limit, now, now.Add(q.HoldFor)); !ok {
		return ErrQuota
	}
	return nil
}

// ReserveUpTo makes upload id hold as much as it can of want bytes, and at least least: for
// an upload of unknown length, which may then receive up to what it holds. It returns what
// id holds (want when the quota is off), or ErrQuota when not even least fits.
func (q *Quota) ReserveUpTo(uploader, id string, least, want int64) (int64, error) {
	if !q.On() || uploader == "" {
		return want, nil
	}
	now := q.now()
	for range 3 {
		ok, room := q.Book.Hold(uploader, id, want, q.Limit, now, now.Add(q.HoldFor))
		switch {
		case ok:
			return want, nil
		case room < least:
			return 0, ErrQuota
		}
		// Another upload of the uploader may take some of the room meanwhile: ask again.
		want = room
	}
	return 0, ErrQuota
}

// Keep renews upload id's hold of n bytes every third of HoldFor until stop is called, so
// that a request streaming in for longer than HoldFor does not lose its hold midway. stop
// returns once no renewal can happen any more: a Release after it is final.
func (q *Quota) Keep(uploader, id string, n int64) (stop func()) {
	if !q.On() || uploader == "" || n < 0 || q.HoldFor <= 0 {
		return func() {}
	}
	k := &keeper{}
	q.keepers.Store(id, k)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(q.HoldFor / 3)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				k.mu.Lock()
				if !k.released {
					now := q.now()
					q.Book.Hold(uploader, id, n, q.Limit, now, now.Add(q.HoldFor))
				}
				k.mu.Unlock()
			}
		}
	}()
	return func() {
		close(quit)
		<-done
		q.keepers.CompareAndDelete(id, k)
	}
}

// Release drops what upload id holds, and ends its renewal by Keep if one runs.
func (q *Quota) Release(uploader, id string) {
	if !q.On() || uploader == "" {
		return
	}
	if v, ok := q.keepers.Load(id); ok {
		k := v.(*keeper)
		k.mu.Lock()
		defer k.mu.Unlock()
		k.released = true
	}
	q.Book.Release(uploader, id)
}

// RetryAfter is when an uploader refused for its quota may try again: the next UTC day.
func RetryAfter(now time.Time) time.Duration {
	return now.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour).Sub(now)
}

var _ QuotaBook = (*Local)(nil)

// quotaFile keeps the bytes each uploader committed today and what its uploads in progress
// hold, so a daily quota survives a restart. It is rewritten whole, at most every
// quotaSaveEvery (and when the store closes): an upload changes the book three times (hold,
// charge, release), and writing it each time cost a file creation and rename, about 1 ms
// here, more with thousands of uploaders in it (7 ms at 10,000), all under the book's lock,
// which every upload takes. A crash forgets at most that last second of changes: a few
// uploads' worth of quota, and the room of holds taken in it. The write is synced with
// storage.fsync, so a power cut cannot leave a book cut short.
const quotaFile = "quota.json"

const quotaSaveEvery = time.Second

type quotaBook struct {
	mu sync.Mutex
	// dirty says the book changed since it was last written; due that a write is scheduled;
	// closed that the store closed, after a last write.
	dirty, due, closed bool
	// writing serializes the writes, so the file never goes back to an older book.
	writing sync.Mutex

	Day  string           `json:"day"`
	Used map[string]int64 `json:"used"`
	// Holds are what uploads in progress hold, by uploader and upload id.
	Holds map[string]map[string]quotaHold `json:"holds,omitempty"`
}

type quotaHold struct {
	N       int64     `json:"n"`
	Expires time.Time `json:"expires"`
}

func today(now time.Time) string { return now.UTC().Format(time.DateOnly) }

func (l *Local) loadQuota() {
	l.quota.Used = map[string]int64{}
	l.quota.Holds = map[string]map[string]quotaHold{}
	data, err := l.root.ReadFile(quotaFile)
	if err != nil {
		return
	}
	var q quotaBook
	if json.Unmarshal(data, &q) == nil && q.Used != nil {
		l.quota.Day, l.quota.Used = q.Day, q.Used
		if q.Holds != nil {
			l.quota.Holds = q.Holds
		}
	}
}

// UploadersToday implements UploaderLister.
func (l *Local) UploadersToday(now time.Time) (map[string]int64, error) {
	l.quota.mu.Lock()
	defer l.quota.mu.Unlock()
	if l.quota.Day != today(now) {
		return map[string]int64{}, nil
	}
	return maps.Clone(l.quota.Used), nil
}

// UsedToday is how many bytes uploader committed during the current UTC day.
func (l *Local) UsedToday(uploader string, now time.Time) int64 {
	l.quota.mu.Lock()
	defer l.quota.mu.Unlock()
	if l.quota.Day != today(now) {
		return 0
	}
	return l.quota.Used[uploader]
}

// Charge adds a committed upload to its uploader's day.
func (l *Local) Charge(uploader string, n int64, now time.Time) {
	if uploader == "" {
		return
	}
	l.quota.mu.Lock()
	defer l.quota.mu.Unlock()
	if d := today(now); l.quota.Day != d {
		l.quota.Day, l.quota.Used = d, map[string]int64{}
	}
	l.quota.Used[uploader] += n
	l.saveQuota()
}

// Hold implements QuotaBook.
func (l *Local) Hold(uploader, id string, n, limit int64, now, expires time.Time) (bool, int64) {
	l.quota.mu.Lock()
	defer l.quota.mu.Unlock()
	used := int64(0)
	if l.quota.Day == today(now) {
		used = l.quota.Used[uploader]
	}
	holds := l.quota.Holds[uploader]
	var mine, others int64
	for hid, h := range holds {
		switch {
		case !h.Expires.After(now):
			delete(holds, hid)
		case hid == id:
			mine = h.N
		default:
			others = addCapped(others, h.N)
		}
	}
	if n > mine && addCapped(addCapped(used, others), n) > limit {
		return false, max(limit-addCapped(used, others), 0)
	}
	if holds == nil {
		holds = map[string]quotaHold{}
		l.quota.Holds[uploader] = holds
	}
	holds[id] = quotaHold{N: n, Expires: expires}
	l.saveQuota()
	return true, 0
}

// Release implements QuotaBook.
func (l *Local) Release(uploader, id string) {
	l.quota.mu.Lock()
	defer l.quota.mu.Unlock()
	holds := l.quota.Holds[uploader]
	if _, ok := holds[id]; !ok {
		return
	}
	delete(holds, id)
	if len(holds) == 0 {
		delete(l.quota.Holds, uploader)
	}
	l.saveQuota()
}

// saveQuota has the book written within quotaSaveEvery; l.quota.mu is held.
func (l *Local) saveQuota() {
	l.quota.dirty = true
	if !l.quota.due {
		l.quota.due = true
		time.AfterFunc(quotaSaveEvery, func() { l.flushQuota(false) })
	}
}

// closeQuota writes the book a last time; changes after it are not written.
func (l *Local) closeQuota() { l.flushQuota(true) }

// flushQuota writes the book if it changed since it was last written (synced with
// storage.fsync); final writes it a last time. A write that fails is tried again later.
func (l *Local) flushQuota(final bool) {
	l.quota.writing.Lock()
	defer l.quota.writing.Unlock()
	l.quota.mu.Lock()
	l.quota.due = false
	if !l.quota.dirty || l.quota.closed {
		l.quota.closed = l.quota.closed || final
		l.quota.mu.Unlock()
		return
	}
	data, err := json.Marshal(&l.quota)
	l.quota.dirty = false
	l.quota.closed = final // the same cut as the data: nothing later is written
	l.quota.mu.Unlock()
	if err == nil {
		err = l.replaceFile(quotaFile, data)
	}
	if err != nil && !final {
		l.quota.mu.Lock()
		l.saveQuota() // dirty again, and another try in a second
		l.quota.mu.Unlock()
	}
}

// addCapped adds two non-negative byte counts without overflowing.
func addCapped(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
