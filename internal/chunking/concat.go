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
	return u.readsPartials
}

// Concat creates the session s as the concatenation of the complete partial uploads parts,
// in order, and commits it to s.Target (tus concatenation extension). The parts stay until
// they expire, but their bytes no longer count against their uploader's quota: the final's
// commit charged them. A concatenation that fails leaves nothing behind.
func (u *Uploads) Concat(ctx context.Context, s Session, parts []string, meta storage.Meta) (*Session, error) {
	var total int64
	var ps []*Session
	for _, id := range parts {
		p, err := u.Get(ctx, id)
		// A part whose every byte is recorded is complete, its completion recorded or not (a
		// crash may have come in between).
		if err != nil || !p.Partial || !p.Completed && (p.Length < 0 || p.Offset != p.Length) {
			return nil, fmt.Errorf("%w: %s", ErrBadParts, id)
		}
		total += p.Length
		ps = append(ps, p)
	}
	s.Length, s.Parts = total, parts
	created, err := u.Create(ctx, s)
	lent := false // the uploader's parts gave their room to the final
	if errors.Is(err, storage.ErrQuota) {
		// The parts hold their lengths, which the total counts again: give the final the room
		// of the uploader's own parts, and take it back if that does not do.
		u.unholdParts(ps, s.Uploader)
		lent = true
		created, err = u.Create(ctx, s)
	}
	if err == nil {
		var lease Lease
		if lease, err = u.lock(ctx, created.ID, Claim{Force: true}); err != nil {
			u.Terminate(ctx, created.ID)
		} else {
			err = u.concat(ctx, lease, created, ps)
			if err != nil {
				u.discard(ctx, created, true, lease)
			}
			lease.Release()
		}
	}
	if err != nil {
		if errors.Is(err, ErrRefused) {
			// The parts hold the refused bytes, and would be judged again by every retry of
			// the concatenation: they go with the refusal, holds and all.
			for _, p := range ps {
				u.Terminate(ctx, p.ID)
			}
			return nil, err
		}
		if lent {
			u.reholdParts(ps, s.Uploader)
		}
		return nil, err
	}
	// The final's commit charged every byte: the parts hold nothing any more.
	u.unholdParts(ps, "")
	return created, nil
}

// unholdParts drops what the parts of uploader (all parts when "") hold.
func (u *Uploads) unholdParts(ps []*Session, uploader string) {
	for _, p := range ps {
		if uploader == "" || p.Uploader == uploader {
			u.unhold(p)
		}
	}
}

// reholdParts gives uploader's parts their holds back after a failed concatenation. Each
// fits again, since the final that took their room is gone, unless another upload of the
// uploader took it meanwhile: that upload is then counted, and the part's bytes are not until
// it expires.
func (u *Uploads) reholdParts(ps []*Session, uploader string) {
	for _, p := range ps {
		if p.Uploader == uploader {
			u.hold(p)
		}
	}
}

// concat copies the parts' data into the created final upload, records it and commits it.
func (u *Uploads) concat(ctx context.Context, lease Lease, created *Session, parts []*Session) error {
	dst, err := u.partials.OpenPartial(created.refUnder(lease), false)
	if err != nil {
		return err
	}
	defer dst.Close()
	w, err := dst.AppendAt(ctx, 0)
	if err != nil {
		return err
	}
	// Space for the whole total before a byte is copied, or 507 now.
	if _, err := storage.Reserve(w, created.Length); err != nil {
		return err
	}
	h, _ := restoreHash(nil)
	out := io.MultiWriter(w, h)
	for _, p := range parts {
		src, err := u.partials.OpenPartial(p.ref(), false)
		if err != nil {
			return err
		}
		r, ok := storage.ReaderOf(src)
		if !ok {
			src.Close()
			return ErrNoConcat
		}
		_, err = io.Copy(out, io.NewSectionReader(r, 0, p.Length))
		src.Close()
		if err != nil {
			return err
		}
	}
	if err := dst.Sync(); err != nil {
		return err
	}
	state, _ := h.(encoding.BinaryMarshaler).MarshalBinary()
	created.Offset, created.HashState, created.PartialState = created.Length, state, dst.State()
	if err := u.record(ctx, dst, created, lease.Fence); err != nil {
		return err
	}
	return u.complete(ctx, dst, created, storage.Meta{}, lease, false)
}
