package chunking

import "math"

// What an upload holds of its uploader's daily quota (Options.Quota), by upload id: its
// length from the moment the length is known; while it is not, room for what the next
// request may bring, which shrinks back to what arrived once the request ends. The store
// charges the bytes when the upload is committed, and the hold then goes; so does the hold of
// an upload that is terminated, expires or fails.

// hold makes s hold its length, when known.
func (u *Uploads) hold(s *Session) error {
	return u.opts.Quota.Reserve(s.Uploader, s.ID, s.Length)
}

// unhold drops what s holds.
func (u *Uploads) unhold(s *Session) { u.opts.Quota.Release(s.Uploader, s.ID) }

// holdFor is called before s receives a request's data, limit being how many bytes the
// request may bring (negative: no bound). An upload of known length holds it (again: that
// renews the hold); one of unknown length holds room for what the quota leaves, and limit
// becomes that room. byQuota says the quota set the limit, so a body past it is refused for
// the quota's sake (storage.ErrQuota), not as too large. The hold is kept up while the
// request runs, until stop is called.
func (u *Uploads) holdFor(s *Session, limit int64) (_ int64, byQuota bool, stop func(), _ error) {
	q := u.opts.Quota
	if !q.On() {
		return limit, false, func() {}, nil
	}
	if s.Length >= 0 {
		if err := u.hold(s); err != nil {
			return 0, false, nil, err
		}
		return limit, false, q.Keep(s.Uploader, s.ID, s.Length), nil
	}
	want := int64(math.MaxInt64)
	if limit >= 0 {
		want = s.Offset + limit
	}
	held, err := q.ReserveUpTo(s.Uploader, s.ID, s.Offset, want)
	if err != nil {
		return 0, false, nil, err
	}
	return held - s.Offset, held < want, q.Keep(s.Uploader, s.ID, held), nil
}

// settle, once a request for s ended, shrinks the hold of an upload of unknown length to
// what it received.
func (u *Uploads) settle(s *Session) {
	if s.Length < 0 && !s.Completed {
		u.opts.Quota.Reserve(s.Uploader, s.ID, s.Offset)
	}
}
