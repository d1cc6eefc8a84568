package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"fileserver/internal/chunking"
	"fileserver/internal/testpeers"
)

// openStore opens a Store (one node) on the Redis at url, closed when the test ends.
func openStore(t *testing.T, url string, o Options) *Store {
	t.Helper()
	o.URL = url
	s, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sampleSession(id string) *chunking.Session {
	created := time.Unix(1_800_000_000, 0).UTC()
	return &chunking.Session{
		ID: id, Protocol: "tus", Target: "up/a.bin", Length: 100, Offset: 40,
		Created: created, Expires: created.Add(time.Hour),
		Metadata:     map[string]string{"filename": "a.bin"},
		PartialState: json.RawMessage(`{"upload":"x"}`),
		HashState:    []byte{1, 2, 3},
	}
}

func TestSessionRoundTrip(t *testing.T) {
	ctx := context.Background()
	url := testpeers.Redis(t)
	// A prefix with glob characters must still match only itself in SCAN.
	s := openStore(t, url, Options{Prefix: "t[1]*:"})
	other := openStore(t, url, Options{Prefix: "t1x:"})

	want := sampleSession("abc-123")
	if err := s.Put(ctx, want, 0); err != nil {
		t.Fatal(err)
	}
	if err := other.Put(ctx, sampleSession("not-mine"), 0); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, want.ID)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Get: %v\n got %+v\nwant %+v", err, got, want)
	}
	if err := s.Put(ctx, sampleSession("second"), 0); err != nil {
		t.Fatal(err)
	}
	ids, err := s.List(ctx)
	if slices.Sort(ids); err != nil || !slices.Equal(ids, []string{"abc-123", "second"}) {
		t.Fatalf("List: %v %v", ids, err)
	}
	if err := s.Delete(ctx, want.ID, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, want.ID); !errors.Is(err, chunking.ErrNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
	if err := s.Delete(ctx, want.ID, 0); !errors.Is(err, chunking.ErrNotFound) {
		t.Fatalf("Delete of a missing session: %v", err)
	}
}

func TestBadIDs(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, testpeers.Redis(t), Options{})
	for _, id := range []string{"", "UPPER", "a/b", "a:b", "a*", strings.Repeat("a", 129)} {
		if _, err := s.Get(ctx, id); !errors.Is(err, chunking.ErrNotFound) {
			t.Errorf("Get(%q): %v, want ErrNotFound", id, err)
		}
		if err := s.Delete(ctx, id, 0); !errors.Is(err, chunking.ErrNotFound) {
			t.Errorf("Delete(%q): %v, want ErrNotFound", id, err)
		}
		if err := s.Put(ctx, sampleSession(id), 0); err == nil || errors.Is(err, chunking.ErrNotFound) {
			t.Errorf("Put(%q): %v, want a bad-id error", id, err)
		}
	}
	if err := s.Put(ctx, sampleSession(strings.Repeat("a", 128)), 0); err != nil {
		t.Errorf("128-character id: %v", err)
	}
}

// A write under a lease that is no longer the session's current one is refused and changes
// nothing; a write without a lease (a new session) always goes through.
func TestFencing(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, testpeers.Redis(t), Options{})
	sess := sampleSession("fenced")
	if err := s.Put(ctx, sess, 0); err != nil {
		t.Fatal(err)
	}
	old, err := s.Lock(ctx, sess.ID, chunking.Claim{})
	if err != nil {
		t.Fatal(err)
	}
	sess.Offset = 50
	if err := s.Put(ctx, sess, old.Fence); err != nil {
		t.Fatalf("Put under the current lease: %v", err)
	}
	old.Release()
	if err := s.Put(ctx, sess, old.Fence); !errors.Is(err, chunking.ErrFenced) {
		t.Fatalf("Put under a released lease with no holder: %v, want ErrFenced", err)
	}
	cur, err := s.Lock(ctx, sess.ID, chunking.Claim{})
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Release()
	if cur.Fence <= old.Fence {
		t.Fatalf("fence %d after %d: not increasing", cur.Fence, old.Fence)
	}
	stale := *sess
	stale.Offset = 99
	if err := s.Put(ctx, &stale, old.Fence); !errors.Is(err, chunking.ErrFenced) {
		t.Fatalf("Put under a stale lease: %v, want ErrFenced", err)
	}
	if err := s.Delete(ctx, sess.ID, old.Fence); !errors.Is(err, chunking.ErrFenced) {
		t.Fatalf("Delete under a stale lease: %v, want ErrFenced", err)
	}
	if got, err := s.Get(ctx, sess.ID); err != nil || got.Offset != 50 {
		t.Fatalf("after refused writes: %v, offset %d, want 50", err, got.Offset)
	}
	sess.Offset = 60
	if err := s.Put(ctx, sess, 0); err != nil {
		t.Fatalf("Put without a lease: %v", err)
	}
	if err := s.Delete(ctx, sess.ID, cur.Fence); err != nil {
		t.Fatalf("Delete under the current lease: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, Options{URL: "redis://127.0.0.1:6379/0", Lease: 100 * time.Millisecond}); err == nil || !strings.Contains(err.Error(), "lease") {
		t.Errorf("short lease: %v", err)
	}
	if _, err := Open(ctx, Options{URL: "http://127.0.0.1:6379"}); err == nil || !strings.Contains(err.Error(), "scheme") {
		t.Errorf("wrong scheme: %v", err)
	}
	if _, err := Open(ctx, Options{URL: "redis://u:hunter2@127.0.0.1:6379/%zz"}); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("unparsable URL: %v", err)
	}
	// Port 1 on the loopback: nobody listens there.
	_, err := Open(ctx, Options{URL: "redis://u:hunter2@127.0.0.1:1/0"})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("unreachable Redis: %v (want the address, without the password)", err)
	}
	t.Log(err)
}
