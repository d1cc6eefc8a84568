package chunking

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"fileserver/internal/crashpoint"
	"fileserver/internal/storage"
	"fileserver/internal/streaming"
)

// Options configure Uploads.
type Options struct {
	// TTL is how long an upload may stay idle before it expires; every append renews it.
	TTL time.Duration
	// MaxSize caps an upload's length; 0 means no cap.
	MaxSize int64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SkipDigest turns off the running SHA-256 of every upload (storage.checksum = false):
	// files then have no digest (no Repr-Digest, ETag from size and time). The digest costs
	// about 0.6 CPU-seconds per GB on the ingest path.
	SkipDigest bool
	// Copier moves every request's body into its upload: the server's streaming engine, so
	// that resumable uploads take their buffers from its memory budget and are paced per
	// client like every other transfer. nil means an engine of its own with the defaults.
	Copier Copier
	// Locker gives each session one writer; nil means the session store if it is a Locker
	// too (Redis), else a MemLocker (one process).
	Locker Locker
	// StaleAfter is how long a request writing an upload must have received nothing before
	// another request that does not force may cut it off (DefaultStaleAfter when 0). Used
	// for the MemLocker only: a Locker given in Options has its own.
	StaleAfter time.Duration
	// CheckpointBytes and CheckpointInterval bound what a crash can cost a request that is
	// streaming in: once either much has arrived since the last checkpoint (bytes, or time
	// with at least a byte), what arrived is made durable and then recorded with the offset,
	// so a restart (or another node) resumes from there. 0 turns that bound off; both 0
	// record only when a request ends.
	CheckpointBytes    int64
	CheckpointInterval time.Duration
	// Quota, when on, makes every upload hold its length of its uploader's daily quota from
	// creation (or, while the length is unknown, what it received) until it is committed or
	// removed; see storage.Quota.
	Quota *storage.Quota
	// Admit, when set, is asked before an upload is committed to its name: an error (a
	// takedown made while it streamed) refuses the commit.
	Admit func(ctx context.Context, name string) error
	// Scan, when set, judges a finished upload's bytes before its commit (a malware scan),
	// read back from its partial data where the backend can (Backend.ReadsPartials); an error
	// refuses the commit. The verdict is left in Session.Scanned. An error matching
	// ErrRefused is final: it is remembered and answered again without a new scan (until
	// the upload expires and its data go).
	Scan func(ctx context.Context, r io.Reader, size int64, s *Session) (string, error)
	// Committed, when set, hears of every upload committed to a file; an error (a takedown
	// made while the commit ran, which removed the file) fails the commit.
	Committed func(ctx context.Context, s *Session, meta storage.Meta) error
}

// Uploads runs resumable uploads: sessions in a SessionStore, data in storage partials.
type Uploads struct {
	// refused remembers the uploads whose bytes Options.Scan refused (by id).
	refused  sync.Map
	sessions SessionStore
	partials storage.Partials
	// space and readsPartials are the storage backend's capabilities (see storage.Backend).
	space         storage.Space
	readsPartials bool
	locker        Locker
	handoffs      *handoffs
	opts          Options
	stats         Stats
	// putting holds the length of every plain PUT in progress, whose state is written only
	// if it ends early: a HEAD needs that length to check its signature and take over.
	putting sync.Map // id -> int64
	// shared says the session store is shared by several nodes: a plain PUT then records its
	// state when it starts, so that a HEAD on another node finds it.
	shared bool
	// writers are the requests writing uploads now, for Interrupt.
	writers writers
}

// New builds Uploads over a session store and a storage backend's partial data.
func New(sessions SessionStore, st storage.Backend, o Options) *Uploads {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TTL <= 0 {
		o.TTL = 24 * time.Hour
	}
	l, shared := sessions.(Locker)
	if o.Locker == nil {
		if shared {
			o.Locker = l
		} else {
			o.Locker = NewMemLocker(o.StaleAfter)
		}
	}
	if o.Copier == nil {
		o.Copier = streaming.New(streaming.Options{})
	}
	return &Uploads{sessions: sessions, partials: st.Partials, space: st.Space, readsPartials: st.ReadsPartials,
		locker: o.Locker, handoffs: newHandoffs(), opts: o, shared: shared}
}

// MaxSize is the cap on an upload's length (0: none).
func (u *Uploads) MaxSize() int64 { return u.opts.MaxSize }

// Create starts a session from s (ID, Created and Expires are filled in when empty) with no
// data yet. The id must be new: nobody else may write that session meanwhile (see Begin for
// an id that others may race for).
func (u *Uploads) Create(ctx context.Context, s Session) (*Session, error) {
	if s.ID == "" {
		s.ID = NewID()
	}
	return u.create(ctx, s, 0)
}

// create writes session s with empty partial data, under the lease whose token is fence (0:
// a new id, which nobody can have locked).
func (u *Uploads) create(ctx context.Context, s Session, fence int64) (*Session, error) {
	if s.Length >= 0 && u.opts.MaxSize > 0 && s.Length > u.opts.MaxSize {
		return nil, ErrTooLarge
	}
	if sp := u.space; sp != nil && s.Length > 0 {
		// An upload that cannot fit above the free-space floor is refused before it exists;
		// each append then claims its bytes (see storage.Reserver).
		if room, ok := sp.Room(); ok && room < s.Length {
			return nil, storage.ErrNoSpace
		}
	}
	if err := u.hold(&s); err != nil {
		return nil, err
	}
	now := u.opts.Now()
	s.Created, s.Expires, s.Offset = now, now.Add(u.opts.TTL), 0
	s.HashState, s.Completed, s.SHA256, s.PartialState = nil, false, "", nil
	p, err := u.partials.OpenPartial(s.ref(), true)
	if err != nil {
		u.unhold(&s)
		return nil, err
	}
	err = p.Truncate(0)
	s.PartialState = p.State()
	p.Close()
	if err != nil {
		u.unhold(&s)
		return nil, err
	}
	if err := u.sessions.Put(ctx, &s, fence); err != nil {
		u.partials.RemovePartial(s.ref())
		u.unhold(&s)
		return nil, err
	}
	u.stats.created.Add(1)
	return &s, nil
}

// Begin is Append for a request that may start the upload (a Content-Range PUT from byte
// 0, whose session id comes from the file's name): under one lease it creates session s
// when there is none, or replaces an expired one, and appends req. Creating outside the
// lease could truncate the data of a request that created the session a moment earlier and
// is writing it. With a session in place, it is Append; without one, a request that does
// not start at byte 0 gets ErrNotFound.
func (u *Uploads) Begin(ctx context.Context, s Session, req AppendRequest) (*Session, error) {
	lease, wctx, pctx, done, err := u.startWriting(ctx, s.ID, &req)
	if err != nil {
		return nil, err
	}
	defer done()
	cur, err := u.Get(ctx, s.ID)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrExpired) {
		if req.Offset != 0 {
			return nil, ErrNotFound
		}
		if cur != nil {
			u.partials.RemovePartial(cur.ref())
			u.unhold(cur)
			u.refused.Delete(s.ID)
		}
		if cur, err = u.create(ctx, s, lease.Fence); err != nil {
			return nil, err
		}
	} else if err != nil {
		return cur, err
	}
	return u.appendHeld(wctx, pctx, lease, cur, req)
}

// Get returns the session's state. It does not wait for a writer: a reader sees the last
// durable state.
func (u *Uploads) Get(ctx context.Context, id string) (*Session, error) {
	s, err := u.sessions.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !s.Completed && u.opts.Now().After(s.Expires) {
		return s, ErrExpired
	}
	return s, nil
}

// Exists reports whether upload id has a session (finished or not, expired or not).
func (u *Uploads) Exists(ctx context.Context, id string) bool {
	_, err := u.sessions.Get(ctx, id)
	return err == nil
}

// Sync takes the session over from any request writing to it (which is cut off at once and
// persists what it received) and returns the resulting state. HEAD requests use it, so the
// offset they report is final.
func (u *Uploads) Sync(ctx context.Context, id string) (*Session, error) {
	lease, err := u.lock(ctx, id, Claim{Force: true})
	if err != nil {
		return nil, err
	}
	defer lease.Release()
	s, err := u.Get(ctx, id)
	if err == nil {
		err = u.finishDurable(ctx, s, lease)
	}
	return s, err
}

// finishDurable completes an upload whose every byte is durable but whose completion was
// never recorded (a crash or shutdown between the last append and the commit, or within the
// commit), so that the offset a client sees as complete is a file (or, for a tus partial
// upload, a part concatenation takes). It does nothing to any other upload.
func (u *Uploads) finishDurable(ctx context.Context, s *Session, lease Lease) error {
	switch {
	case s.Completed || s.Length < 0 || s.Offset != s.Length:
		return nil
	case s.Partial:
		s.Completed = true
		return u.sessions.Put(ctx, s, lease.Fence)
	case s.Target == "":
		return nil
	}
	return u.complete(ctx, nil, s, storage.Meta{}, lease, true)
}

// AppendRequest is one request's data for an upload.
type AppendRequest struct {
	// Offset is where the client says its data starts.
	Offset int64
	// Length, when >= 0, declares the upload's total length (tus deferred length, IETF
	// Upload-Length or Content-Range's complete length).
	Length int64
	// Complete says this request carries the last byte: the length becomes the final offset
	// (IETF Upload-Complete: ?1).
	Complete bool
	// Checksum, when set, must match the digest of this request's data (tus checksum).
	Checksum hash.Hash
	// ChecksumWant is the digest Checksum must produce.
	ChecksumWant []byte
	// Body is the request's data (nil: none). The Uploads' Copier moves it into the upload,
	// reading no more than the upload may still take; a longer body is ErrTooLarge.
	Body io.Reader
	// Transfer tells the copier who sends the body and how (protocol, client, idle timeout,
	// the connection's read deadline); Append sets its direction and limit.
	Transfer streaming.Transfer
	// Copied, when set, is told what the copy did (bytes, buffer size), for the request log.
	Copied func(streaming.Result)
	// Cancel cuts this request off, for the cause it is given: ErrHandedOff when a newer
	// request takes the upload over, ErrShutdown when the server stops (Interrupt). It must
	// make a body read blocked on a silent client return promptly (expire the connection's
	// read deadline); the copy then ends with the cause as its error.
	Cancel func(cause error)
	// Idle is how long the request has gone without receiving a byte: a request for the same
	// upload cuts this one off only when it is stale (see Locker).
	Idle func() time.Duration
	// Meta is what the committed file is stored with, when this append completes the upload.
	Meta storage.Meta
}

// Append adds a request's data at its offset, makes it durable, records the new offset and,
// when the upload is complete, commits it to its target. It returns the session state after
// the append, together with the copy's error if the body ended early: bytes received before
// an interruption are kept and acknowledged.
func (u *Uploads) Append(ctx context.Context, id string, req AppendRequest) (*Session, error) {
	lease, wctx, pctx, done, err := u.startWriting(ctx, id, &req)
	if err != nil {
		return nil, err
	}
	defer done()
	s, err := u.Get(ctx, id)
	if err != nil {
		return s, err
	}
	return u.appendHeld(wctx, pctx, lease, s, req)
}

// appendHeld is Append once the lease is held and the session read: wctx bounds the data's
// way in, pctx the writes that record it (see startWriting).
func (u *Uploads) appendHeld(wctx, pctx context.Context, lease Lease, s *Session, req AppendRequest) (*Session, error) {
	if answered, err := u.admit(pctx, lease, s, req); answered {
		return s, err
	}
	// The upload holds its (maybe just declared) length, or room for what may arrive now.
	limit, byQuota, keep, err := u.holdFor(s, u.room(s))
	if err != nil {
		return s, err
	}
	defer keep()
	if s.Offset > 0 {
		u.stats.resumed.Add(1)
	}
	p, err := u.partials.OpenPartial(s.refUnder(lease), false)
	if err != nil {
		return s, err
	}
	defer p.Close()
	n, copyErr := u.write(wctx, p, s, req, writing{limit: limit, byQuota: byQuota, syncDone: true,
		checkpoint: func() error { return u.record(pctx, p, s, lease.Fence) }})
	defer u.settle(s)
	if errors.Is(copyErr, ErrChecksum) {
		return s, copyErr
	}
	if n > 0 || req.Length >= 0 {
		s.Expires = u.opts.Now().Add(u.opts.TTL)
	}
	return s, u.conclude(pctx, p, s, req, lease, copyErr)
}

// admit decides whether req may append to s. answered is true when it may not, or need not:
// err is then the answer (nil for the retry of a request whose answer was lost).
func (u *Uploads) admit(pctx context.Context, lease Lease, s *Session, req AppendRequest) (answered bool, err error) {
	if s.Completed {
		return true, ErrCompleted
	}
	// Every byte arrived before this request: a commit (or its record) that a crash cut
	// short is what is left to do. The request is a retry whose answer was lost: it is
	// answered as the completed upload's, whatever its offset (ErrCompleted).
	if s.Length >= 0 && s.Offset == s.Length {
		if err := u.finishDurable(pctx, s, lease); err != nil {
			return true, err
		}
		if req.Offset == s.Offset && (req.Length < 0 || req.Length == s.Length) {
			_, err := u.copyBody(pctx, io.Discard, req, 0) // it may carry nothing more
			return true, err
		}
		return true, ErrCompleted
	}
	if !s.ResumeBy.IsZero() && u.opts.Now().After(s.ResumeBy) {
		return true, ErrExpired
	}
	if req.Offset != s.Offset {
		u.stats.conflicts.Add(1)
		return true, &OffsetError{Expected: s.Offset, Provided: req.Offset}
	}
	if err := u.declareLength(s, req.Length); err != nil {
		return true, err
	}
	return false, nil
}

// room is how many bytes an append to s may bring: the rest of its length, else of the size
// cap; -1 for no bound.
func (u *Uploads) room(s *Session) int64 {
	switch {
	case s.Length >= 0:
		return s.Length - s.Offset
	case u.opts.MaxSize > 0:
		return u.opts.MaxSize - s.Offset
	}
	return -1
}

// conclude records what an append wrote to p (copyErr is how its copy ended) and completes
// the upload when its offset reached its length.
func (u *Uploads) conclude(pctx context.Context, p storage.Partial, s *Session, req AppendRequest, lease Lease, copyErr error) error {
	if copyErr == nil && req.Complete {
		if err := u.declareLength(s, s.Offset); err != nil {
			if perr := u.record(pctx, p, s, lease.Fence); perr != nil {
				return perr
			}
			return err
		}
	}
	if err := u.record(pctx, p, s, lease.Fence); err != nil {
		return err
	}
	// An upload whose offset reached its length is complete even when the request then ended
	// badly (cut off, more bytes than the length): a client that reads that offset is done.
	full := s.Length >= 0 && s.Offset == s.Length
	if copyErr != nil && !full {
		return copyErr
	}
	if full && !s.Partial {
		if err := u.complete(pctx, p, s, req.Meta, lease, false); err != nil {
			return err
		}
	}
	if full && s.Partial {
		s.Completed = true
		if err := u.record(pctx, p, s, lease.Fence); err != nil {
			return err
		}
	}
	return copyErr
}

// startWriting takes upload id's lock for a request that writes it, and returns the two
// contexts it works under: wctx for its data, which ends with ctx and when a newer request
// cuts this one off (req.Cancel is extended to end it), so that a write waiting for memory
// stops as promptly as the body read does; and pctx for recording what it received, which
// the request's end does not end, since that is just when what it sent must be recorded.
// done releases it all.
func (u *Uploads) startWriting(ctx context.Context, id string, req *AppendRequest) (lease Lease, wctx, pctx context.Context, done func(), err error) {
	if u.writers.stopped.Load() {
		return Lease{}, nil, nil, nil, ErrShutdown
	}
	wctx, cut := context.WithCancelCause(ctx)
	var claimCancel func()
	unregister := func() {}
	if c := req.Cancel; c != nil {
		req.Cancel = func(cause error) {
			c(cause)
			cut(cause)
		}
		claimCancel = func() { req.Cancel(ErrHandedOff) }
		unregister = u.writers.add(req.Cancel)
	}
	if lease, err = u.lock(ctx, id, Claim{Cancel: claimCancel, Idle: req.Idle}); err != nil {
		unregister()
		cut(nil)
		return Lease{}, nil, nil, nil, err
	}
	pctx, stop := context.WithTimeout(context.WithoutCancel(ctx), persistTimeout)
	return lease, wctx, pctx, func() {
		stop()
		lease.Release()
		unregister()
		cut(nil)
	}, nil
}

// Interrupt cuts off every request writing an upload, because the server stops: each makes
// durable and records what it received, as any request cut off does, and answers with the
// offset to resume from (its error is ErrShutdown). A request that comes to write after it is
// refused with ErrShutdown at once. It does not wait for them.
func (u *Uploads) Interrupt() {
	u.writers.stopped.Store(true)
	u.writers.each(func(cancel func(error)) { cancel(ErrShutdown) })
}

// writers are the cancel functions of the requests writing uploads now.
type writers struct {
	mu      sync.Mutex
	next    int
	all     map[int]func(error)
	stopped atomic.Bool // Interrupt was called: no new writer
}

func (w *writers) add(cancel func(error)) (remove func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.all == nil {
		w.all = map[int]func(error){}
	}
	w.next++
	k := w.next
	w.all[k] = cancel
	if w.stopped.Load() {
		// Interrupt ran between this request's start and now: it stops as well.
		defer cancel(ErrShutdown)
	}
	return func() {
		w.mu.Lock()
		delete(w.all, k)
		w.mu.Unlock()
	}
}

func (w *writers) each(f func(func(error))) {
	w.mu.Lock()
	list := make([]func(error), 0, len(w.all))
	for _, c := range w.all {
		list = append(list, c)
	}
	w.mu.Unlock()
	for _, c := range list {
		f(c)
	}
}

// persistTimeout bounds the writes that record what a request received.
const persistTimeout = time.Minute

// declareLength records a declared total length, refusing one that contradicts what is known.
func (u *Uploads) declareLength(s *Session, length int64) error {
	switch {
	case length < 0:
		return nil
	case s.Length >= 0 && s.Length != length:
		return ErrLengthMismatch
	case length < s.Offset:
		return ErrLengthMismatch
	case u.opts.MaxSize > 0 && length > u.opts.MaxSize:
		return ErrTooLarge
	}
	s.Length = length
	return nil
}

// writing is how write treats one request's data.
type writing struct {
	// limit is how many bytes the request may bring (negative: no bound).
	limit int64
	// byQuota says limit is the room the daily quota leaves: a body past it is
	// storage.ErrQuota, and like a full disk keeps nothing (past the last checkpoint).
	byQuota bool
	// syncDone makes a body that arrived whole durable too; without it the caller commits it
	// at once, and the commit makes it durable.
	syncDone bool
	// checkpoint records s as it stands; write calls it at checkpoints (see
	// Options.CheckpointBytes), after making what it names durable. nil: no checkpoints.
	checkpoint func() error
}

// write appends the body to p at s.Offset and advances s.Offset, its hash and its partial
// state by what was durably written; at checkpoints it records them as it goes. On a
// checksum mismatch nothing is kept and the offset stays. It returns how many bytes the
// request brought that s now counts.
func (u *Uploads) write(ctx context.Context, p storage.Partial, s *Session, req AppendRequest, wr writing) (int64, error) {
	start := s.Offset
	ck, reserved, err := u.openWrite(ctx, p, s, req, wr)
	if err != nil {
		return 0, err
	}
	if req.Transfer.Upload == nil {
		req.Transfer.Upload = &streaming.UploadInfo{ID: s.ID, Name: s.Target, Offset: s.Offset, Length: s.Length, Uploader: s.Uploader}
	}
	n, copyErr := u.copyBody(ctx, ck, req, wr.limit)
	return u.keepWritten(p, s, req, wr, ck, start, n, reserved, copyErr)
}

// openWrite prepares the append of req to p at s.Offset: the rest of the upload provided
// for (reserved tells whether it was), and the writer that digests the data and checkpoints
// it as it arrives.
func (u *Uploads) openWrite(ctx context.Context, p storage.Partial, s *Session, req AppendRequest, wr writing) (ck *checkpointer, reserved bool, err error) {
	w, err := p.AppendAt(ctx, s.Offset)
	if err != nil {
		return nil, false, err
	}
	if s.Length > s.Offset {
		// The rest of the upload is provided for before a byte is read: space on disk (a full
		// disk, or one at storage.min_free, is refused now), or a buffer of the right size.
		if reserved, err = storage.Reserve(w, s.Length-s.Offset); err != nil {
			return nil, false, cutBack(p, s.Offset, err)
		}
	}
	dst := tee{w: w}
	var h hash.Hash
	if !u.opts.SkipDigest {
		if h, err = restoreHash(s.HashState); err != nil {
			return nil, false, err
		}
		dst.hashes = append(dst.hashes, h)
	}
	ck = &checkpointer{w: dst, p: p, s: s, h: h, record: wr.checkpoint, last: time.Now(), u: u}
	ck.align = storage.AlignerOf(w)
	if req.Checksum != nil {
		// tus checksum: the request's data is kept whole or not at all, so no part of it may
		// be recorded before its digest is known.
		dst.hashes = append(dst.hashes, req.Checksum)
		ck.w, ck.record = dst, nil
	}
	return ck, reserved, nil
}

// keepWritten decides what of the n bytes an append copied (ending with copyErr) is kept,
// makes it durable and counts it in s.Offset; it returns what the request brought that s
// now counts, or drops what may not be kept (a checksum that fails, a full disk, a quota
// spent) back to the offset last recorded.
func (u *Uploads) keepWritten(p storage.Partial, s *Session, req AppendRequest, wr writing, ck *checkpointer, start, n int64, reserved bool, copyErr error) (int64, error) {
	rest := n - ck.done // arrived since the last checkpoint
	if reserved {
		copyErr = releaseReserve(p, s, s.Offset+rest, copyErr)
	}
	if drop, nothingKept := refusedRest(req, wr, copyErr); drop != nil {
		// What the checkpoints recorded stands, unless the request is kept whole or not at
		// all (a tus checksum): the bytes past the recorded offset go.
		kept := s.Offset - start
		if nothingKept {
			kept = 0
		}
		return kept, cutBack(p, s.Offset, drop)
	}
	if err := keepRest(p, s, ck, rest, wr.syncDone || copyErr != nil); err != nil {
		return s.Offset - start, err
	}
	return n, copyErr
}

// releaseReserve decides whether a body that ended at end, short of the upload's length,
// gives back the space reserved past it, and does so. Should that fail, what the request
// stored stands (the failure is told only with another, joined to copyErr); the next append,
// which starts by cutting the partial at its offset, gives it back.
func releaseReserve(p storage.Partial, s *Session, end int64, copyErr error) error {
	if end >= s.Length {
		return copyErr
	}
	if err := cutBack(p, end, nil); err != nil && copyErr != nil {
		return errors.Join(copyErr, err)
	}
	return copyErr
}

// refusedRest decides whether what an append copied past its last checkpoint must be dropped
// rather than kept, and the error it is dropped with (nil: it is kept). nothingKept says the
// request keeps none of its bytes at all, as a tus checksum asks: the chunk is kept whole or
// not at all. The cases are checked in this order.
func refusedRest(req AppendRequest, wr writing, copyErr error) (drop error, nothingKept bool) {
	switch {
	case req.Checksum != nil && copyErr == nil && !bytes.Equal(req.Checksum.Sum(nil), req.ChecksumWant):
		return ErrChecksum, true
	case wr.byQuota && errors.Is(copyErr, ErrTooLarge):
		// A body past the room the daily quota leaves has spent the quota: it is dropped
		// like the next case's.
		return storage.ErrQuota, false
	case errors.Is(copyErr, storage.ErrNoSpace) || errors.Is(copyErr, storage.ErrQuota):
		// A full disk, or a quota spent, keeps nothing of this request past its last
		// checkpoint: the offset stays where it was recorded, and the space goes back.
		return copyErr, false
	case req.Checksum != nil && copyErr != nil:
		// tus: a chunk whose checksum cannot be verified is not kept.
		return copyErr, true
	}
	return nil, false
}

// keepRest keeps the rest bytes that arrived after the last checkpoint: with sync (a body
// that must be durable before it is answered, or one cut short) it makes them durable first,
// and drops them back to the recorded offset if that fails; then s counts them, with the
// digest's state. On failure s.Offset stays where it was.
func keepRest(p storage.Partial, s *Session, ck *checkpointer, rest int64, sync bool) error {
	if rest <= 0 {
		return nil
	}
	if sync {
		if err := p.Sync(); err != nil {
			return cutBack(p, s.Offset, err)
		}
		s.PartialState = p.State()
	}
	if err := ck.hashState(); err != nil {
		return err
	}
	s.Offset += rest
	return nil
}

// cutBack drops what p holds past off, the bytes of a request that are not kept, and returns
// err, joined with the cut's own failure if it fails (the bytes past the recorded offset then
// stay until the next append, which cuts the partial at its offset before writing).
func cutBack(p storage.Partial, off int64, err error) error {
	if terr := p.Truncate(off); terr != nil {
		return errors.Join(err, fmt.Errorf("chunking: dropping the bytes past offset %d: %w", off, terr))
	}
	return err
}

// checkpointer passes a request's data on to w and, every Options.CheckpointBytes or
// Options.CheckpointInterval, makes what arrived durable (the partial's Sync) and then
// records it with the offset and the digest's state (record): a crash costs at most what
// came after the last checkpoint, and a checkpoint never names bytes that are not durable.
// Where the storage has boundaries (an object store's parts), a checkpoint that is due waits
// for the next one, so it costs a completed part, not a tail object.
type checkpointer struct {
	w      io.Writer
	u      *Uploads
	p      storage.Partial
	s      *Session
	h      hash.Hash // the running digest, nil when digests are off
	record func() error
	// align, when the storage has one, says where checkpoints cost least: they wait for it.
	align storage.Aligner
	// written is what went through w, done what of it s.Offset counts.
	written, done int64
	last          time.Time
}

func (c *checkpointer) Write(b []byte) (int, error) {
	if c.align != nil && c.due() {
		// Due, but only cheap at the storage's next boundary: write up to it, checkpoint
		// there, then the rest.
		if k := c.align.Boundary(); k > 0 && k < int64(len(b)) {
			n, err := c.write(b[:k])
			if err != nil {
				return n, err
			}
			m, err := c.Write(b[k:])
			return n + m, err
		}
	}
	return c.write(b)
}

func (c *checkpointer) write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.written += int64(n)
	if err == nil && c.due() && (c.align == nil || c.align.Boundary() == 0) {
		err = c.checkpoint()
	}
	return n, err
}

func (c *checkpointer) due() bool {
	if c.record == nil {
		return false
	}
	pending := c.written - c.done
	every, interval := c.u.opts.CheckpointBytes, c.u.opts.CheckpointInterval
	return pending > 0 && (every > 0 && pending >= every || interval > 0 && time.Since(c.last) >= interval)
}

func (c *checkpointer) checkpoint() error {
	if err := c.p.Sync(); err != nil {
		return err
	}
	if err := c.hashState(); err != nil {
		return err
	}
	c.s.PartialState = c.p.State()
	c.s.Offset += c.written - c.done
	c.s.Expires = c.u.opts.Now().Add(c.u.opts.TTL)
	c.done, c.last = c.written, time.Now()
	c.u.stats.checkpoints.Add(1)
	return c.record()
}

// hashState saves the running digest's state into the session.
func (c *checkpointer) hashState() error {
	if c.h == nil {
		return nil
	}
	state, err := c.h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return err
	}
	c.s.HashState = state
	return nil
}

// record writes the session's state, which names p's data as of its last Sync, and tells p
// so: from then on that data is the upload's.
func (u *Uploads) record(ctx context.Context, p storage.Partial, s *Session, fence int64) error {
	if err := u.sessions.Put(ctx, s, fence); err != nil {
		return err
	}
	p.Recorded()
	return nil
}

// tee writes to w and gives the hashes exactly the bytes w accepted, also when w fails
// part-way (io.MultiWriter would not): the running digest must cover what the offset counts.
type tee struct {
	w      io.Writer
	hashes []io.Writer
}

func (t tee) Write(b []byte) (int, error) {
	n, err := t.w.Write(b)
	for _, h := range t.hashes {
		h.Write(b[:n])
	}
	return n, err
}

// complete commits a finished upload to its target and records it as completed. recovering
// says the upload was complete before this request came (its commit may have been cut short
// by a crash between its steps): a target that already holds exactly its data is then its
// own commit, finished now, not another upload's file.
func (u *Uploads) complete(ctx context.Context, p storage.Partial, s *Session, meta storage.Meta, lease Lease, recovering bool) error {
	if err := u.commit(ctx, p, s, meta, lease, recovering); err != nil {
		if errors.Is(err, ErrRefused) && !s.Refused {
			u.dropRefused(ctx, s, lease, err)
		}
		return err
	}
	crashpoint.Here("committed-unrecorded")
	u.stats.completed.Add(1)
	// The store charged the committed bytes to the uploader's day: the hold is spent.
	u.unhold(s)
	return u.sessions.Put(ctx, s, lease.Fence)
}

// commit publishes a finished upload's data under its target, with its digest, through p (the
// partial the data was just written through) or, when p is nil, the session's partial. See
// complete for recovering.
func (u *Uploads) commit(ctx context.Context, p storage.Partial, s *Session, meta storage.Meta, lease Lease, recovering bool) error {
	if !u.opts.SkipDigest {
		h, err := restoreHash(s.HashState)
		if err != nil {
			return err
		}
		meta.SHA256 = hex.EncodeToString(h.Sum(nil))
	}
	if meta.ContentType == "" {
		meta.ContentType = s.ContentType
	}
	if s.Uploader != "" {
		// The uploader the upload's quota was held for is charged, whoever sent its last byte.
		meta.Uploader = s.Uploader
	}
	if meta.Expires.IsZero() && !s.FileExpires.IsZero() {
		meta.Expires, meta.ExpiresBy = s.FileExpires, storage.ExpiresByToken
	}
	if err := u.admitCommit(ctx, p, s, lease, recovering); err != nil {
		return err
	}
	err := u.publish(ctx, p, s, meta, lease)
	if err != nil && recovering && meta.SHA256 != "" {
		// Only the digest tells this upload's own file from another's of the same size: with
		// digests off, a commit a crash cut short is not taken over (the file stays, the
		// upload does not complete).
		if _, aerr := u.partials.Adopt(ctx, s.refUnder(lease), s.Target, s.Length, meta); aerr == nil {
			err = nil
		}
	}
	if err != nil {
		return err
	}
	if u.opts.Committed != nil {
		meta.Name, meta.Size = s.Target, s.Length
		if err := u.opts.Committed(ctx, s, meta); err != nil {
			return err
		}
	}
	s.Completed, s.SHA256, s.HashState, s.PartialState = true, meta.SHA256, nil, nil
	return nil
}

// admitCommit asks whether s may be committed now: Options.Admit for its name, Options.Scan
// for its bytes.
func (u *Uploads) admitCommit(ctx context.Context, p storage.Partial, s *Session, lease Lease, recovering bool) error {
	if u.opts.Admit != nil {
		if err := u.opts.Admit(ctx, s.Target); err != nil {
			return err
		}
	}
	err := u.scan(ctx, p, s, lease)
	if recovering && errors.Is(err, storage.ErrNotFound) {
		// The partial data was published before a crash cut the commit short: the data
		// was judged before it was, and Adopt takes the file over.
		return nil
	}
	return err
}

// scan has s's bytes judged (Options.Scan) before they are published, through p or, when p
// is nil, the session's partial, when the backend reads partial data back.
func (u *Uploads) scan(ctx context.Context, p storage.Partial, s *Session, lease Lease) error {
	if err, refused := u.refused.Load(s.ID); refused {
		return err.(error) // judged already: a HEAD does not buy another scan
	}
	if s.Refused {
		return ErrRefused // judged before a restart; the data went with the refusal
	}
	if u.opts.Scan == nil || !u.readsPartials {
		return nil
	}
	if p == nil {
		var err error
		if p, err = u.partials.OpenPartial(s.refUnder(lease), false); err != nil {
			return err
		}
		defer p.Close()
	}
	ra, ok := storage.ReaderOf(p)
	if !ok {
		return nil
	}
	var err error
	s.Scanned, err = u.opts.Scan(ctx, io.NewSectionReader(ra, 0, s.Length), s.Length, s)
	if errors.Is(err, ErrRefused) {
		u.refused.Store(s.ID, err)
	}
	return err
}

// publish is the storage's commit of s's data, through p or, when p is nil, the session's
// partial.
func (u *Uploads) publish(ctx context.Context, p storage.Partial, s *Session, meta storage.Meta, lease Lease) error {
	if p == nil {
		var err error
		if p, err = u.partials.OpenPartial(s.refUnder(lease), false); err != nil {
			return err
		}
		defer p.Close()
	}
	_, err := p.Commit(ctx, s.Target, s.Length, meta)
	return err
}

// Terminate cuts off any writer and removes the upload's data and state.
func (u *Uploads) Terminate(ctx context.Context, id string) error {
	lease, err := u.lock(ctx, id, Claim{Force: true})
	if err != nil {
		return err
	}
	defer lease.Release()
	s, err := u.sessions.Get(ctx, id)
	if err != nil {
		return err
	}
	if err := u.remove(ctx, s, lease); err != nil {
		return err
	}
	return u.sessions.Delete(ctx, id, lease.Fence)
}

// dropRefused lets a refused upload's data go at once: they will never be published, and
// they are what was refused (malware), so they stay neither on disk nor in the uploader's
// quota for the rest of the session's lifetime. The session stays, marked Refused, so that
// asking again (a HEAD, a retried last request) is answered refusal, until it expires. If
// the data cannot be removed now, they stay until then, as the session's always did.
func (u *Uploads) dropRefused(ctx context.Context, s *Session, lease Lease, refusal error) {
	err := u.remove(ctx, s, lease)
	u.refused.Store(s.ID, refusal) // the judgement stands, whatever became of the data
	if err != nil {
		return
	}
	s.Refused, s.PartialState, s.HashState = true, nil, nil
	u.sessions.Put(ctx, s, lease.Fence)
}

// remove deletes s's partial data and drops its hold, unless lease was lost meanwhile: then
// another request, maybe on another node, holds the upload and its data now.
func (u *Uploads) remove(ctx context.Context, s *Session, lease Lease) error {
	u.refused.Delete(s.ID)
	if lease.Check != nil {
		if err := lease.Check(ctx); err != nil {
			return err
		}
	}
	if err := u.partials.RemovePartial(s.ref()); err != nil {
		return err
	}
	u.unhold(s)
	return nil
}

func restoreHash(state []byte) (hash.Hash, error) {
	h := sha256.New()
	if len(state) == 0 {
		return h, nil
	}
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
		return nil, fmt.Errorf("chunking: restore checksum state: %w", err)
	}
	return h, nil
}
