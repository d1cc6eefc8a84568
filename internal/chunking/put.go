package chunking

import (
	"context"
	"errors"
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
	limit := s.Length
	if limit < 0 && u.opts.MaxSize > 0 {
		limit = u.opts.MaxSize
	}
	// Before a byte is read: the upload holds its length of the quota, or room for what may
	// arrive when it announced none.
	limit, byQuota, keep, err := u.holdFor(&s, limit)
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
	old, statErr := u.sessions.Get(ctx, s.ID)
	hadState := statErr == nil
	if hadState {
		// What an earlier attempt left is replaced, and what it held of its uploader's quota
		// (another uploader's, maybe: a phone that changed networks) goes.
		u.partials.RemovePartial(old.ref())
		if old.Uploader != s.Uploader {
			u.unhold(old)
		}
	}
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
	if s.Length < 0 {
		s.Length = s.Offset
	}
	if s.Offset != s.Length {
		u.discard(pctx, &s, hadState, lease)
		return &s, ErrLengthMismatch
	}
	if hadState {
		// Checkpoints recorded the upload: record it whole before the commit, so that a
		// commit a crash cuts short is finished by the next request, not taken for an
		// upload still missing bytes.
		if err := p.Sync(); err != nil {
			return &s, err
		}
		s.PartialState = p.State()
		if err := u.record(pctx, p, &s, lease.Fence); err != nil {
			return &s, err
		}
	}
	if err := u.commit(pctx, p, &s, req.Meta, lease, false); err != nil {
		u.discard(pctx, &s, hadState, lease)
		return &s, err
	}
	if hadState {
		u.sessions.Delete(pctx, s.ID, lease.Fence)
	}
	return &s, nil
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
