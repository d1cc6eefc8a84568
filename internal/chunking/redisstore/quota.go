package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

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

// holdsKey is the hash of what uploader's uploads in progress hold: upload id -> "n:expires"
// (bytes, Unix seconds).
func (s *Store) holdsKey(uploader string) string { return s.prefix + "quota-holds:" + uploader }

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

// holdScript is Hold in one step, so that no other node's hold slips in between the sum and
// the write. KEYS: the day's count, the uploader's holds. ARGV: id, n, limit, now, expires
// (Unix seconds). Expired holds are dropped on the way. Returns {1, 0} when held, else
// {0, room}. Byte counts stay far below 2^53, where Lua's numbers are exact.
var holdScript = redis.NewScript(`
local used = tonumber(redis.call("GET", KEYS[1]) or "0")
local now, mine, others = tonumber(ARGV[4]), 0, 0
local all = redis.call("HGETALL", KEYS[2])
for i = 1, #all, 2 do
	local n, exp = string.match(all[i+1], "^(%d+):(%d+)$")
	n, exp = tonumber(n), tonumber(exp)
	if n == nil or exp <= now then
		redis.call("HDEL", KEYS[2], all[i])
	elseif all[i] == ARGV[1] then
		mine = n
	else
		others = others + n
	end
end
local want, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
if want > mine and used + others + want > limit then
	return {0, math.max(limit - used - others, 0)}
end
redis.call("HSET", KEYS[2], ARGV[1], ARGV[2] .. ":" .. ARGV[5])
local ttl = redis.call("TTL", KEYS[2])
local keep = tonumber(ARGV[5]) - now
if ttl < keep then redis.call("EXPIRE", KEYS[2], keep) end
return {1, 0}`)

// Hold implements storage.QuotaBook across every node. When Redis does not answer, the hold
// is granted (as UsedToday says 0): an outage lets uploads through rather than refusing all.
func (s *Store) Hold(uploader, id string, n, limit int64, now, expires time.Time) (bool, int64) {
	ctx, cancel := context.WithTimeout(s.ctx, quotaTimeout)
	defer cancel()
	res, err := holdScript.Run(ctx, s.rdb, []string{s.quotaKey(uploader, now), s.holdsKey(uploader)},
		id, n, limit, now.Unix(), max(expires.Unix(), now.Unix()+1)).Int64Slice()
	if err != nil || len(res) != 2 {
		return true, 0
	}
	return res[0] == 1, res[1]
}

// Release implements storage.QuotaBook.
func (s *Store) Release(uploader, id string) {
	ctx, cancel := context.WithTimeout(s.ctx, quotaTimeout)
	defer cancel()
	s.rdb.HDel(ctx, s.holdsKey(uploader), id)
}

// UploadersToday implements storage.UploaderLister: the day's counters, found with SCAN.
func (s *Store) UploadersToday(now time.Time) (map[string]int64, error) {
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	prefix := s.quotaKey("", now)
	out := map[string]int64{}
	it := s.rdb.Scan(ctx, 0, escapeGlob(prefix)+"*", 1000).Iterator()
	var keys []string
	for it.Next(ctx) {
		keys = append(keys, it.Val())
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("redisstore: list uploaders: %w", err)
	}
	for len(keys) > 0 {
		batch := keys[:min(len(keys), 500)]
		keys = keys[len(batch):]
		vals, err := s.rdb.MGet(ctx, batch...).Result()
		if err != nil {
			return nil, fmt.Errorf("redisstore: list uploaders: %w", err)
		}
		for i, v := range vals {
			str, ok := v.(string)
			if !ok {
				continue
			}
			n, err := strconv.ParseInt(str, 10, 64)
			if err == nil {
				out[strings.TrimPrefix(batch[i], prefix)] = n
			}
		}
	}
	return out, nil
}
