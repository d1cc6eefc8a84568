package chunking

import (
	"context"
	"encoding"
	"errors"
	"fmt"
	"io"

	"fileserver/internal/storage"
)

// ErrBadParts: a concatenation names an upload that is not a complete partial upload.
var ErrBadParts = errors.New("chunking: concatenation needs complete partial uploads")

// Concat creates the session s as the concatenation of the complete partial uploads parts,
// in order, and commits it to s.Target (tus concatenation extension). The parts stay until
// they expire.
func (u *Uploads) Concat(ctx context.Context, s Session, parts []string, meta storage.Meta) (*Session, error) {
	var total int64
	for _, id := range parts {
		p, err := u.Get(ctx, id)
		if err != nil || !p.Partial || !p.Completed {
			return nil, fmt.Errorf("%w: %s", ErrBadParts, id)
		}
		total += p.Length
	}
	s.Length, s.Parts = total, parts
	created, err := u.Create(ctx, s)
	if err != nil {
		return nil, err
	}
	release, err := u.locks.acquire(ctx, created.ID, nil)
	if err != nil {
		return nil, err
	}
	defer release()
	dst, err := u.partials.OpenPartial(created.ID, false)
	if err != nil {
		return nil, err
	}
	defer dst.Close()
	w, err := dst.AppendAt(0)
	if err != nil {
		return nil, err
	}
	h, _ := restoreHash(nil)
	out := io.MultiWriter(w, h)
	for _, id := range parts {
		src, err := u.partials.OpenPartial(id, false)
		if err != nil {
			return nil, err
		}
		p, _ := u.sessions.Get(ctx, id)
		_, err = io.Copy(out, io.NewSectionReader(src, 0, p.Length))
		src.Close()
		if err != nil {
			return nil, err
		}
	}
	if err := dst.Sync(); err != nil {
		return nil, err
	}
	state, _ := h.(encoding.BinaryMarshaler).MarshalBinary()
	created.Offset, created.HashState = total, state
	if err := u.sessions.Put(ctx, created); err != nil {
		return nil, err
	}
	return created, u.complete(ctx, created, meta)
}
