package ops

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"fileserver/internal/storage"
)

// ErrBlocked: the name is taken down; an upload to it is refused (451).
var ErrBlocked = errors.New("this name is taken down")

// Takedown blocks a name (Path) or every name under a prefix (Prefix) from being uploaded.
type Takedown struct {
	ID      string    `json:"id"`
	Path    string    `json:"path,omitempty"`
	Prefix  string    `json:"prefix,omitempty"`
	Reason  string    `json:"reason"`
	By      string    `json:"by"`
	Created time.Time `json:"created"`
	// Removed is how many stored files the takedown removed when it was made.
	Removed int `json:"removed"`
}

// Blocks tells whether the takedown covers name.
func (t Takedown) Blocks(name string) bool {
	return t.Path != "" && t.Path == name || t.Prefix != "" && strings.HasPrefix(name, t.Prefix)
}

// TakedownBook keeps takedowns where every node sees them: a file in the data directory for a
// single node, Redis for several.
type TakedownBook interface {
	// Takedowns returns every takedown and the book's version, which changes with every
	// change of the set.
	Takedowns(ctx context.Context) ([]Takedown, int64, error)
	// TakedownsVersion is the version alone: one cheap read per check.
	TakedownsVersion(ctx context.Context) (int64, error)
	AddTakedown(ctx context.Context, t Takedown) error
	// UpdateTakedown replaces the takedown with t's ID, if it still exists (not lifted).
	UpdateTakedown(ctx context.Context, t Takedown) error
	// LiftTakedown removes one; ok is false when no takedown has that id.
	LiftTakedown(ctx context.Context, id string) (t Takedown, ok bool, err error)
}

// Takedowns checks names against a book, keeping a copy of its set that is reread only when
// the book's version moves: a check costs one version read (nothing for a file book).
type Takedowns struct {
	book    TakedownBook
	mu      sync.Mutex
	set     []Takedown
	version int64
	loaded  bool
}

// NewTakedowns checks against book.
func NewTakedowns(book TakedownBook) *Takedowns { return &Takedowns{book: book} }

// Check returns an error matching ErrBlocked when a takedown covers name. When the book
// cannot be read the name is refused too: a takedown must not be lifted by an outage.
func (t *Takedowns) Check(ctx context.Context, name string) error {
	if t == nil {
		return nil
	}
	set, err := t.current(ctx)
	if err != nil {
		return errors.Join(ErrBlocked, errors.New("the takedown list cannot be read"), err)
	}
	if blocks(set, name) {
		return ErrBlocked
	}
	return nil
}

// Blocked tells whether a takedown is known to cover name (false when the list cannot be
// read: this is for undoing what was done, not for refusing).
func (t *Takedowns) Blocked(ctx context.Context, name string) bool {
	if t == nil {
		return false
	}
	set, err := t.current(ctx)
	return err == nil && blocks(set, name)
}

func blocks(set []Takedown, name string) bool {
	for _, td := range set {
		if td.Blocks(name) {
			return true
		}
	}
	return false
}

func (t *Takedowns) current(ctx context.Context) ([]Takedown, error) {
	v, err := t.book.TakedownsVersion(ctx)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.loaded && v == t.version {
		return t.set, nil
	}
	set, v, err := t.book.Takedowns(ctx)
	if err != nil {
		return nil, err
	}
	t.set, t.version, t.loaded = set, v, true
	return set, nil
}

// List returns every takedown, newest first.
func (t *Takedowns) List(ctx context.Context) ([]Takedown, error) {
	set, err := t.current(ctx)
	if err != nil {
		return nil, err
	}
	out := append([]Takedown(nil), set...)
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// Add records td (its ID and Created are filled in) and returns it.
func (t *Takedowns) Add(ctx context.Context, td Takedown) (Takedown, error) {
	var b [8]byte
	rand.Read(b[:])
	td.ID = "td-" + hex.EncodeToString(b[:])
	td.Created = time.Now().UTC()
	return td, t.book.AddTakedown(ctx, td)
}

// Update records what changed of td (how many files it removed).
func (t *Takedowns) Update(ctx context.Context, td Takedown) error {
	return t.book.UpdateTakedown(ctx, td)
}

// Lift removes the takedown with id.
func (t *Takedowns) Lift(ctx context.Context, id string) (Takedown, bool, error) {
	return t.book.LiftTakedown(ctx, id)
}

// FileBook is a TakedownBook in a file (one node): the set is held in memory and every change
// rewrites the file (synced, then renamed over the old one).
type FileBook struct {
	root    *os.Root
	name    string
	mu      sync.Mutex
	set     []Takedown
	version int64
}

// OpenFileBook reads the book kept at name in root (none yet is an empty book).
func OpenFileBook(root *os.Root, name string) (*FileBook, error) {
	b := &FileBook{root: root, name: name}
	data, err := root.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return b, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &b.set); err != nil {
		return nil, errors.New(name + ": " + err.Error())
	}
	return b, nil
}

// Takedowns implements TakedownBook.
func (b *FileBook) Takedowns(context.Context) ([]Takedown, int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Takedown(nil), b.set...), b.version, nil
}

// TakedownsVersion implements TakedownBook.
func (b *FileBook) TakedownsVersion(context.Context) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.version, nil
}

// AddTakedown implements TakedownBook.
func (b *FileBook) AddTakedown(_ context.Context, t Takedown) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	set := append(append([]Takedown(nil), b.set...), t)
	if err := b.save(set); err != nil {
		return err
	}
	b.set = set
	b.version++
	return nil
}

// UpdateTakedown implements TakedownBook.
func (b *FileBook) UpdateTakedown(_ context.Context, t Takedown) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := slices.IndexFunc(b.set, func(old Takedown) bool { return old.ID == t.ID })
	if i < 0 {
		return nil
	}
	set := slices.Clone(b.set)
	set[i] = t
	if err := b.save(set); err != nil {
		return err
	}
	b.set = set
	b.version++
	return nil
}

// LiftTakedown implements TakedownBook.
func (b *FileBook) LiftTakedown(_ context.Context, id string) (Takedown, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, t := range b.set {
		if t.ID != id {
			continue
		}
		set := append(append([]Takedown(nil), b.set[:i]...), b.set[i+1:]...)
		if err := b.save(set); err != nil {
			return Takedown{}, false, err
		}
		b.set = set
		b.version++
		return t, true, nil
	}
	return Takedown{}, false, nil
}

func (b *FileBook) save(set []Takedown) error {
	data, err := json.MarshalIndent(set, "", "  ")
	if err != nil {
		return err
	}
	return storage.ReplaceFile(b.root, b.name+"."+storage.RandomID()+".tmp", b.name, data, true)
}
