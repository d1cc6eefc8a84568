package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"fileserver/internal/ops"
)

// The operator's state every node shares: takedowns (a hash of id -> JSON and a version
// counter that moves with every change, so a node rereads the set only when it changed) and
// download counts (a hash of file name -> count).

var (
	_ ops.TakedownBook = (*Store)(nil)
	_ ops.CountBook    = (*Store)(nil)
)

func (s *Store) takedownsKey() string        { return s.prefix + "takedowns" }
func (s *Store) takedownsVersionKey() string { return s.prefix + "takedowns:version" }
func (s *Store) downloadsKey() string        { return s.prefix + "downloads" }

// Takedowns implements ops.TakedownBook.
func (s *Store) Takedowns(ctx context.Context) ([]ops.Takedown, int64, error) {
	var all *redis.MapStringStringCmd
	var ver *redis.StringCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		all = p.HGetAll(ctx, s.takedownsKey())
		ver = p.Get(ctx, s.takedownsVersionKey())
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, fmt.Errorf("redisstore: read takedowns: %w", err)
	}
	v, _ := ver.Int64()
	var set []ops.Takedown
	for _, raw := range all.Val() {
		var t ops.Takedown
		if json.Unmarshal([]byte(raw), &t) == nil {
			set = append(set, t)
		}
	}
	return set, v, nil
}

// TakedownsVersion implements ops.TakedownBook.
func (s *Store) TakedownsVersion(ctx context.Context) (int64, error) {
	v, err := s.rdb.Get(ctx, s.takedownsVersionKey()).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("redisstore: read takedowns: %w", err)
	}
	return v, nil
}

// AddTakedown implements ops.TakedownBook.
func (s *Store) AddTakedown(ctx context.Context, t ops.Takedown) error {
	data, err := json.Marshal(t)
	if err != nil {
		return err
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.takedownsKey(), t.ID, data)
		p.Incr(ctx, s.takedownsVersionKey())
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore: record takedown: %w", err)
	}
	return nil
}

// updateTakedown replaces a takedown's record only while it exists, and moves the version.
var updateTakedown = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('INCR', KEYS[2])
end
return 0`)

// UpdateTakedown implements ops.TakedownBook.
func (s *Store) UpdateTakedown(ctx context.Context, t ops.Takedown) error {
	data, err := json.Marshal(t)
	if err != nil {
		return err
	}
	if err := updateTakedown.Run(ctx, s.rdb, []string{s.takedownsKey(), s.takedownsVersionKey()}, t.ID, data).Err(); err != nil {
		return fmt.Errorf("redisstore: update takedown: %w", err)
	}
	return nil
}

// LiftTakedown implements ops.TakedownBook.
func (s *Store) LiftTakedown(ctx context.Context, id string) (ops.Takedown, bool, error) {
	raw, err := s.rdb.HGet(ctx, s.takedownsKey(), id).Result()
	if errors.Is(err, redis.Nil) {
		return ops.Takedown{}, false, nil
	}
	if err != nil {
		return ops.Takedown{}, false, fmt.Errorf("redisstore: lift takedown: %w", err)
	}
	var t ops.Takedown
	json.Unmarshal([]byte(raw), &t)
	var del *redis.IntCmd
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		del = p.HDel(ctx, s.takedownsKey(), id)
		p.Incr(ctx, s.takedownsVersionKey())
		return nil
	})
	if err != nil {
		return ops.Takedown{}, false, fmt.Errorf("redisstore: lift takedown: %w", err)
	}
	return t, del.Val() == 1, nil
}

// AddDownloads implements ops.CountBook, in one round trip.
func (s *Store) AddDownloads(ctx context.Context, add map[string]int64) error {
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for name, n := range add {
			p.HIncrBy(ctx, s.downloadsKey(), name, n)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore: add download counts: %w", err)
	}
	return nil
}

// Downloads implements ops.CountBook.
func (s *Store) Downloads(ctx context.Context, names []string) (map[string]int64, error) {
	out := make(map[string]int64, len(names))
	if len(names) == 0 {
		return out, nil
	}
	vals, err := s.rdb.HMGet(ctx, s.downloadsKey(), names...).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: read download counts: %w", err)
	}
	for i, v := range vals {
		var n int64
		if str, ok := v.(string); ok {
			fmt.Sscan(str, &n)
		}
		out[names[i]] = n
	}
	return out, nil
}

// ForgetDownloads implements ops.CountBook.
func (s *Store) ForgetDownloads(ctx context.Context, names []string) error {
	if len(names) == 0 {
		return nil
	}
	if err := s.rdb.HDel(ctx, s.downloadsKey(), names...).Err(); err != nil {
		return fmt.Errorf("redisstore: forget download counts: %w", err)
	}
	return nil
}
