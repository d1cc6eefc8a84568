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

// ErrNoConcat: the storage cannot read partial uploads back, so it cannot concatenate them.
var ErrNoConcat = errors.New("chunking: this storage does not support concatenation")

// Concatenates reports whether the storage can concatenate partial uploads (tus
// concatenation): it must read partial data back, which an object store's unfinished
// multipart upload does not allow.
func (u *Uploads) Concatenates() bool {
	c, ok := u.partials.(interface{ ReadsPartials() bool })
	return ok && c.ReadsPartials()
}

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
	lease, err := u.lock(ctx, created.ID, Claim{Force: true})
	if err != nil {
		return nil, err
	}
	defer lease.Release()
	dst, err := u.partials.OpenPartial(created.ref(), false)
	if err != nil {
		return nil, err
	}
	defer dst.Close()
	w, err := dst.AppendAt(ctx, 0)
	if err != nil {
		return nil, err
	}
	h, _ := restoreHash(nil)
	out := io.MultiWriter(w, h)
	for _, id := range parts {
		p, err := u.sessions.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		src, err := u.partials.OpenPartial(p.ref(), false)
		if err != nil {
			return nil, err
		}
		r, ok := src.(storage.PartialReader)
		if !ok {
			src.Close()
			return nil, ErrNoConcat
		}
		_, err = io.Copy(out, io.NewSectionReader(r, 0, p.Length))
		src.Close()
		if err != nil {
			return nil, err
		}
	}
	if err := dst.Sync(); err != nil {
		return nil, err
	}
	state, _ := h.(encoding.BinaryMarshaler).MarshalBinary()
	created.Offset, created.HashState, created.PartialState = total, state, dst.State()
	if err := u.record(ctx, dst, created, lease.Fence); err != nil {
		return nil, err
	}
	return created, u.complete(ctx, dst, created, meta, lease.Fence)
}
