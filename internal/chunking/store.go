package chunking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"fileserver/internal/storage"
)

// SessionStore keeps session state. Put must be atomic and durable: after it returns, a
// crash leaves either the old or the new state, never a mix.
//
// Put and Delete carry the fencing token of the caller's lease on the session (0 for a new
// session, written before anyone locks it). A store shared by several nodes refuses, with
// ErrFenced, a write whose token is not that of the session's current lease: a request that
// lost its lease (its node stalled past the lease) can no longer change what another wrote.
type SessionStore interface {
	Get(ctx context.Context, id string) (*Session, error)
	Put(ctx context.Context, s *Session, fence int64) error
	Delete(ctx context.Context, id string, fence int64) error
	// List returns every session id.
	List(ctx context.Context) ([]string, error)
}

const sessionDir = "sessions"

// DirStore is the embedded SessionStore: one JSON file per session in a directory next to
// the data, replaced atomically (write, sync, rename, sync directory). It serves one process,
// whose MemLocker needs no fencing: the tokens are ignored.
type DirStore struct {
	root  *os.Root
	fsync bool
}

var _ SessionStore = (*DirStore)(nil)

// NewDirStore keeps sessions under root's sessions/ directory.
func NewDirStore(root *os.Root, fsync bool) (*DirStore, error) {
	if err := root.MkdirAll(sessionDir, 0o750); err != nil {
		return nil, fmt.Errorf("chunking: create session directory: %w", err)
	}
	return &DirStore{root: root, fsync: fsync}, nil
}

// ValidID reports whether id can name a session: the rule of storage.ValidUploadID, since
// the id names the upload's partial data too.
func ValidID(id string) bool { return storage.ValidUploadID(id) == nil }

func statePath(id string) string { return sessionDir + "/" + id + ".json" }

// Get implements SessionStore.
func (d *DirStore) Get(_ context.Context, id string) (*Session, error) {
	if !ValidID(id) {
		return nil, ErrNotFound
	}
	data, err := d.root.ReadFile(statePath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("chunking: read session: %w", err)
	}
	var s Session
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("chunking: session %s is corrupt: %w", id, err)
	}
	return &s, nil
}

// Put implements SessionStore.
func (d *DirStore) Put(_ context.Context, s *Session, _ int64) error {
	if !ValidID(s.ID) {
		return fmt.Errorf("chunking: bad session id %q", s.ID)
	}
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp := sessionDir + "/." + s.ID + "." + NewID() + ".tmp"
	if err := storage.ReplaceFile(d.root, tmp, statePath(s.ID), data, d.fsync); err != nil {
		return fmt.Errorf("chunking: write session: %w", err)
	}
	return nil
}

// Delete implements SessionStore.
func (d *DirStore) Delete(_ context.Context, id string, _ int64) error {
	if !ValidID(id) {
		return ErrNotFound
	}
	err := d.root.Remove(statePath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	return err
}

// List implements SessionStore.
func (d *DirStore) List(_ context.Context) ([]string, error) {
	dir, err := d.root.Open(sessionDir)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, n := range names {
		if id, ok := strings.CutSuffix(n, ".json"); ok && ValidID(id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}
