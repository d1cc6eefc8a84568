package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"fileserver/internal/chunking"
)

// Options configure a Store.
type Options struct {
	// URL is where Redis listens: redis://[user:pass@]host:port[/db], rediss:// for TLS or
	// unix:///path/to/socket (the forms redis.ParseURL accepts).
	URL string
	// Prefix starts every key and channel name, so several deployments can share one Redis.
	// Default "fileserver:".
	Prefix string
	// Lease is how long a lock outlives the node holding it: the sessions of a node that dies
	// are free again after at most this long. Held locks are renewed every Lease/3, so a node
	// that stalls longer than Lease loses them. Default 10s, at least 300ms.
	Lease time.Duration
	// StaleAfter is how long a request of this node holding a session must have received
	// nothing before a request that does not force (on any node) may cut it off; while it
	// receives, such requests get chunking.ErrBusy. Default chunking.DefaultStaleAfter.
	StaleAfter time.Duration
}

// Defaults and limits of Options.
const (
	DefaultPrefix = "fileserver:"
	DefaultLease  = 10 * time.Second
	MinLease      = 300 * time.Millisecond
)

// openTimeout bounds the first contact with Redis: a server that does not answer within it is
// a configuration error, reported at startup rather than on the first upload.
const openTimeout = 10 * time.Second

// ErrClosed: the Store was closed.
var ErrClosed = errors.New("redisstore: store closed")

// Store is a chunking.SessionStore and chunking.Locker in Redis, shared by every node that
// opens one with the same URL and prefix.
//
// Keys: <prefix>session:<id> holds a session's JSON (no expiry: the reaper removes it),
// <prefix>lock:<id> the token of the lease on it, <prefix>fence the counter tokens are
// drawn from. Channels: <prefix>cancel asks a holder to stop ("<token> <force> <id>"),
// <prefix>busy answers that a holder still receiving keeps its session ("<token> <id>"),
// <prefix>released says a lock was given up ("<id>").
type Store struct {
	rdb    *redis.Client
	sub    *redis.PubSub
	prefix string
	lease  time.Duration

	staleAfter time.Duration

	cancelChannel, releasedChannel, busyChannel string

	// ctx ends when the Store is closed, stopping renewers and waiters.
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup // the listener and every renewer

	mu      sync.Mutex
	closed  bool
	held    map[string]*holding             // id -> this process's holder of its lock
	waiters map[string]map[*waiter]struct{} // id -> Lock calls of this process waiting for it
}

var (
	_ chunking.SessionStore = (*Store)(nil)
	_ chunking.Locker       = (*Store)(nil)
)

// Open connects to Redis, checks that it answers and subscribes to the lock channels.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = chunking.DefaultStaleAfter
	}
	switch {
	case o.Lease == 0:
		o.Lease = DefaultLease
	case o.Lease < MinLease:
		return nil, fmt.Errorf("redisstore: lease %v is shorter than the minimum %v", o.Lease, MinLease)
	}
	where := redactURL(o.URL)
	ro, err := redis.ParseURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("redisstore: bad Redis URL %s: %w", where, withoutURL(err))
	}
	rdb := redis.NewClient(ro)
	octx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	if err := rdb.Ping(octx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redisstore: Redis at %s does not answer: %w", where, err)
	}
	s := &Store{
		rdb:             rdb,
		prefix:          o.Prefix,
		lease:           o.Lease,
		staleAfter:      o.StaleAfter,
		cancelChannel:   o.Prefix + "cancel",
		releasedChannel: o.Prefix + "released",
		busyChannel:     o.Prefix + "busy",
		held:            map[string]*holding{},
		waiters:         map[string]map[*waiter]struct{}{},
	}
	s.sub = rdb.Subscribe(octx, s.cancelChannel, s.releasedChannel, s.busyChannel)
	// Subscribe reports no error of its own; the first confirmation does.
	if _, err := s.sub.Receive(octx); err != nil {
		s.sub.Close()
		rdb.Close()
		return nil, fmt.Errorf("redisstore: subscribe to %s on Redis at %s: %w", s.cancelChannel, where, err)
	}
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.listen(s.sub.Channel())
	return s, nil
}

// Close stops the subscription and the renewers and closes the connections. Locks still
// held are not released (their requests may still be writing): they end with their lease.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.stop()
	err := s.sub.Close()
	s.wg.Wait()
	return errors.Join(err, s.rdb.Close())
}

func (s *Store) sessionKey(id string) string { return s.prefix + "session:" + id }
func (s *Store) lockKey(id string) string    { return s.prefix + "lock:" + id }
func (s *Store) fenceKey() string            { return s.prefix + "fence" }

// Get implements chunking.SessionStore.
func (s *Store) Get(ctx context.Context, id string) (*chunking.Session, error) {
	if !chunking.ValidID(id) {
		return nil, chunking.ErrNotFound
	}
	data, err := s.rdb.Get(ctx, s.sessionKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, chunking.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: read session %s: %w", id, err)
	}
	var sess chunking.Session
	if err := json.Unmarshal(data, &sess); err != nil {
		return nil, fmt.Errorf("redisstore: session %s is corrupt: %w", id, err)
	}
	return &sess, nil
}

// putScript writes a session (KEYS[1]) if the fence (ARGV[2]) is 0 or is the token in its
// lock (KEYS[2]); checked and written in one step, so no lease can change in between.
var putScript = redis.NewScript(`
if ARGV[2] ~= "0" and redis.call("GET", KEYS[2]) ~= ARGV[2] then return 0 end
redis.call("SET", KEYS[1], ARGV[1])
return 1`)

// Put implements chunking.SessionStore: a fence other than 0 must be the token of the
// session's current lease, or the write is refused with chunking.ErrFenced.
func (s *Store) Put(ctx context.Context, sess *chunking.Session, fence int64) error {
	if !chunking.ValidID(sess.ID) {
		return fmt.Errorf("redisstore: bad session id %q", sess.ID)
	}
	data, err := json.Marshal(sess)
	if err != nil {
		return fmt.Errorf("redisstore: encode session %s: %w", sess.ID, err)
	}
	written, err := putScript.Run(ctx, s.rdb, []string{s.sessionKey(sess.ID), s.lockKey(sess.ID)}, data, fence).Int()
	if err != nil {
		return fmt.Errorf("redisstore: write session %s: %w", sess.ID, err)
	}
	if written == 0 {
		return fmt.Errorf("redisstore: write session %s under fence %d: %w", sess.ID, fence, chunking.ErrFenced)
	}
	return nil
}

// deleteScript deletes a session (KEYS[1]) under the same fence rule as putScript: -1 when
// fenced, else how many keys it deleted.
var deleteScript = redis.NewScript(`
if ARGV[1] ~= "0" and redis.call("GET", KEYS[2]) ~= ARGV[1] then return -1 end
return redis.call("DEL", KEYS[1])`)

// Delete implements chunking.SessionStore, with Put's fencing.
func (s *Store) Delete(ctx context.Context, id string, fence int64) error {
	if !chunking.ValidID(id) {
		return chunking.ErrNotFound
	}
	n, err := deleteScript.Run(ctx, s.rdb, []string{s.sessionKey(id), s.lockKey(id)}, fence).Int()
	switch {
	case err != nil:
		return fmt.Errorf("redisstore: delete session %s: %w", id, err)
	case n < 0:
		return fmt.Errorf("redisstore: delete session %s under fence %d: %w", id, fence, chunking.ErrFenced)
	case n == 0:
		return chunking.ErrNotFound
	}
	return nil
}

// List implements chunking.SessionStore. It walks the keys with SCAN, which never blocks
// Redis the way KEYS does on a large keyspace.
func (s *Store) List(ctx context.Context) ([]string, error) {
	prefix := s.sessionKey("")
	var ids []string
	it := s.rdb.Scan(ctx, 0, escapeGlob(prefix)+"*", 1000).Iterator()
	for it.Next(ctx) {
		if id, ok := strings.CutPrefix(it.Val(), prefix); ok && chunking.ValidID(id) {
			ids = append(ids, id)
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("redisstore: list sessions: %w", err)
	}
	// SCAN may return a key twice (when Redis resizes its table meanwhile).
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// escapeGlob quotes the characters SCAN MATCH gives a meaning, so a prefix matches itself.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// redactURL is the URL fit for an error message: without its password.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// withoutURL drops the raw URL (which may hold a password) that url.Parse puts in its errors.
func withoutURL(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}
