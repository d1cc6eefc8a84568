package redisstore

import (
	"context"
	"time"

	"fileserver/internal/storage"
)

var _ storage.QuotaBook = (*Store)(nil)

// quotaKeep is how long a day's count is kept: past the day, with room for clocks that
// differ between nodes.
const quotaKeep = 48 * time.Hour

// quotaTimeout bounds a quota read or charge: the quota must not hold an upload up.
const quotaTimeout = 2 * time.Second

func (s *Store) quotaKey(uploader string, now time.Time) string {
	return s.prefix + "quota:" + now.UTC().Format(time.DateOnly) + ":" + uploader
}

// UsedToday implements storage.QuotaBook with one counter per uploader and UTC day, shared
// by every node. When Redis does not answer it says 0: an outage of the book lets uploads
// through rather than refusing everyone.
func (s *Store) UsedToday(uploader string, now time.Time) int64 {
	ctx, cancel := context.WithTimeout(s.ctx, quotaTimeout)
	defer cancel()
	n, err := s.rdb.Get(ctx, s.quotaKey(uploader, now)).Int64()
	if err != nil {
		return 0
	}
	return n
}

// Charge implements storage.QuotaBook.
func (s *Store) Charge(uploader string, n int64, now time.Time) {
	if uploader == "" || n <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, quotaTimeout)
	defer cancel()
	key := s.quotaKey(uploader, now)
	pipe := s.rdb.TxPipeline()
	pipe.IncrBy(ctx, key, n)
	pipe.Expire(ctx, key, quotaKeep)
	pipe.Exec(ctx)
}
