package chunking

import (
	"context"
	"errors"

	"fileserver/internal/storage"
)

// Put receives a whole upload in one request (a plain PUT) into session s.ID, replacing
// whatever an earlier attempt left. Its state is written only if the request ends early:
// then the bytes that arrived are kept, and a Content-Range PUT or a HEAD can pick the upload
// up from there. A request that completes commits the file straight away.
func (u *Uploads) Put(ctx context.Context, s Session, req AppendRequest) (*Session, error) {
	lease, wctx, pctx, done, err := u.startWriting(ctx, s.ID, &req)
	if err != nil {
		return nil, err
	}
	defer done()
	if s.Length >= 0 && u.opts.MaxSize > 0 && s.Length > u.opts.MaxSize {
		return nil, ErrTooLarge
	}
	// Before a byte is read: the upload holds its length of the quota, or room for what may
	// arrive when it announced none (a PUT starts its upload over: s.Offset is 0).
	s.Offset = 0
	limit, byQuota, keep, err := u.holdFor(&s, u.room(&s))
	if err != nil {
		return nil, err
	}
	// The hold goes when this returns, unless an interrupted upload keeps its state (and so
	// its hold) or the commit charged it.
	kept := false
	defer func() {
		if !kept {
			u.unhold(&s)
		}
	}()
	defer keep()
	u.putting.Store(s.ID, s.Length)
	defer u.putting.Delete(s.ID)
	hadState := u.dropEarlier(ctx, &s)
	now := u.opts.Now()
	s.Created, s.Expires, s.Offset, s.HashState, s.Completed, s.PartialState = now, now.Add(u.opts.TTL), 0, nil, false, nil
	p, err := u.partials.OpenPartial(s.refUnder(lease), true)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	if u.shared {
		s.PartialState = p.State()
		if err := u.record(pctx, p, &s, lease.Fence); err != nil {
			return nil, err
		}
		hadState = true
	}
	n, copyErr := u.write(wctx, p, &s, req, writing{limit: limit, byQuota: byQuota,
		checkpoint: func() error {
			if err := u.record(pctx, p, &s, lease.Fence); err != nil {
				return err
			}
			hadState = true // a HEAD, or a restart, finds it from now on
			return nil
		}})
	if copyErr != nil {
		if n == 0 || errors.Is(copyErr, ErrTooLarge) {
			u.discard(pctx, &s, hadState, lease)
			return &s, copyErr
		}
		u.settle(&s)
		if err := u.record(pctx, p, &s, lease.Fence); err != nil {
			return &s, err
		}
		kept = true
		return &s, copyErr
	}
	return &s, u.commitPut(pctx, p, &s, req, lease, hadState)
}

// dropEarlier replaces what an earlier attempt at s.ID left: its partial data goes, and what
// it held of its uploader's quota (another uploader's, maybe: a phone that changed
// networks). It reports whether there was such a state.
func (u *Uploads) dropEarlier(ctx context.Context, s *Session) bool {
	old, err := u.sessions.Get(ctx, s.ID)
	if err != nil {
		return false
	}
	u.partials.RemovePartial(old.ref())
	u.refused.Delete(s.ID) // a judgement of the earlier upload's bytes, not of these
	if old.Uploader != s.Uploader {
		u.unhold(old)
	}
	return true
}

// commitPut commits a plain PUT whose body arrived whole, if it is the announced length;
// hadState says its state was recorded (by a checkpoint, or for other nodes).
func (u *Uploads) commitPut(pctx context.Context, p storage.Partial, s *Session, req AppendRequest, lease Lease, hadState bool) error {
	if s.Length < 0 {
		s.Length = s.Offset
	}
	if s.Offset != s.Length {
		u.discard(pctx, s, hadState, lease)
		return ErrLengthMismatch
	}
	if hadState {
		// Checkpoints recorded the upload: record it whole before the commit, so that a
		// commit a crash cuts short is finished by the next request, not taken for an
		// upload still missing bytes.
		if err := p.Sync(); err != nil {
			return err
		}
		s.PartialState = p.State()
		if err := u.record(pctx, p, s, lease.Fence); err != nil {
			return err
		}
	}
	if err := u.commit(pctx, p, s, req.Meta, lease, false); err != nil {
		u.discard(pctx, s, hadState, lease)
		return err
	}
	if hadState {
		u.sessions.Delete(pctx, s.ID, lease.Fence)
	}
	return nil
}

// PendingLength is the announced length of a plain PUT in progress for id (-1 when it
// announced none), whose state is not yet written.
func (u *Uploads) PendingLength(id string) (int64, bool) {
	v, ok := u.putting.Load(id)
	if !ok {
		return 0, false
	}
	return v.(int64), true
}

// discard drops an upload's data and, if it had any, its state; nothing when the lease was
// lost meanwhile (the upload is another request's now).
func (u *Uploads) discard(ctx context.Context, s *Session, hadState bool, lease Lease) {
	if u.remove(ctx, s, lease) == nil && hadState {
		u.sessions.Delete(ctx, s.ID, lease.Fence)
	}
}
