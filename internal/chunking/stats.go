package chunking

import (
	"context"
	"sync/atomic"
	"time"

	"fileserver/internal/counters"
)

// Stats are the session counters; the metrics package reads them.
type Stats struct {
	created, completed, expired, resumed, conflicts, busy, checkpoints atomic.Int64
}

// StatsSnapshot is a copy of the counters at one moment.
type StatsSnapshot struct {
	Created, Completed, Expired, Resumed, OffsetConflicts int64
	Handoffs                                              int64
	// Busy counts requests refused because another was still sending the upload.
	Busy int64
	// Checkpoints counts what requests streaming in made durable and recorded before they
	// ended (Options.CheckpointBytes).
	Checkpoints int64
	HandoffTime time.Duration
}

// Snapshot reads the counters of u.
func (u *Uploads) Snapshot() StatsSnapshot {
	return StatsSnapshot{
		Created:         u.stats.created.Load(),
		Completed:       u.stats.completed.Load(),
		Expired:         u.stats.expired.Load(),
		Resumed:         u.stats.resumed.Load(),
		OffsetConflicts: u.stats.conflicts.Load(),
		Handoffs:        u.handoffs.n.Load(),
		Busy:            u.stats.busy.Load(),
		Checkpoints:     u.stats.checkpoints.Load(),
		HandoffTime:     time.Duration(u.handoffs.nanos.Load()),
	}
}

// HandoffTimes is the distribution of hand-off latencies: from a request finding its upload
// held to holding it.
func (u *Uploads) HandoffTimes() counters.Snapshot { return u.handoffs.times.Snapshot() }

// InProgress returns the uploads that are neither complete nor expired (the admin API).
func (u *Uploads) InProgress(ctx context.Context) ([]*Session, error) {
	now := u.opts.Now()
	return u.sessionsWhere(ctx, func(s *Session) bool { return !s.Completed && now.Before(s.Expires) })
}

// Active counts the uploads that are neither complete nor expired.
func (u *Uploads) Active(ctx context.Context) (int, error) {
	now := u.opts.Now()
	active, err := u.sessionsWhere(ctx, func(s *Session) bool { return !s.Completed && now.Before(s.Expires) })
	return len(active), err
}
