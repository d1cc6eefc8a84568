package chunking

import (
	"context"
	"errors"
)

// Reap removes every expired, unfinished upload and the state of completed ones past their
// expiry. It returns how many it removed.
func (u *Uploads) Reap(ctx context.Context) (int, error) {
	now := u.opts.Now()
	expired, err := u.sessionsWhere(ctx, func(s *Session) bool { return !now.Before(s.Expires) })
	if err != nil {
		return 0, err
	}
	n := 0
	for _, old := range expired {
		// Not forced: an upload still receiving is not expired, whatever its state says.
		lease, err := u.lock(ctx, old.ID, Claim{})
		if errors.Is(err, ErrBusy) {
			continue
		}
		if err != nil {
			return n, err
		}
		// Read again under the lock: an append may have renewed it meanwhile.
		if s, err := u.sessions.Get(ctx, old.ID); err == nil && !now.Before(s.Expires) {
			if u.remove(ctx, s, lease) == nil && u.sessions.Delete(ctx, s.ID, lease.Fence) == nil {
				n++
				if !s.Completed {
					u.stats.expired.Add(1)
				}
			}
		}
		lease.Release()
	}
	return n, nil
}

// sessionsWhere reads every session's state and returns those keep accepts. States that
// cannot be read are skipped.
func (u *Uploads) sessionsWhere(ctx context.Context, keep func(*Session) bool) ([]*Session, error) {
	ids, err := u.sessions.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []*Session
	for _, id := range ids {
		if s, err := u.sessions.Get(ctx, id); err == nil && keep(s) {
			out = append(out, s)
		}
	}
	return out, nil
}
