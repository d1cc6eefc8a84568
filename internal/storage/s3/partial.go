package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"fileserver/internal/crashpoint"
	"fileserver/internal/storage"
)

// Resumable uploads on an object store. An upload is one multipart upload to its final key,
// started when its first part is full. Full parts are sent as they fill, as for a plain
// upload. What a request leaves past the last full part (the tail, smaller than a part) is
// written as an object of its own under PartialDir when the upload is synced, so the
// acknowledged offset survives the node: the next request, on any node, reads the tail back
// and goes on filling the part. Where all this is (upload id, parts, tail) is the partial's
// State, which the session store records together with the offset: until it is recorded,
// the previous state and its objects stay as they were.

// PartialDir is the first path segment of the keys that hold the tails of resumable uploads
// (after Options.Prefix). No file may be named under it, so those bytes are never served.
const PartialDir = ".fileserver-partial"

var _ storage.Partials = (*Store)(nil)

// partialTimeout bounds the object store requests of a sync, which must finish even when the
// request that wrote the data was cut off.
const partialTimeout = 2 * time.Minute

// partialState is the recorded state of one resumable upload.
type partialState struct {
	UploadID string `json:"upload_id,omitempty"`
	Parts    []part `json:"parts,omitempty"`
	// Tail is the key of the object holding the bytes after the last part, TailSize long.
	Tail     string `json:"tail,omitempty"`
	TailSize int64  `json:"tail_size,omitempty"`
	// Stale lists tails of earlier states, to remove once this state is recorded.
	Stale []string `json:"stale,omitempty"`
}

func (st *partialState) size() int64 {
	n := st.TailSize
	for _, p := range st.Parts {
		n += p.Size
	}
	return n
}

// validName checks a file name: a valid storage name outside PartialDir.
func validName(name string) error {
	if err := storage.ValidName(name); err != nil {
		return err
	}
	if name == PartialDir || strings.HasPrefix(name, PartialDir+"/") {
		return fmt.Errorf("%w: %s/ is reserved for uploads in progress", storage.ErrInvalidName, PartialDir)
	}
	if name == IndexDir || strings.HasPrefix(name, IndexDir+"/") {
		return fmt.Errorf("%w: %s/ is reserved for the expiry index", storage.ErrInvalidName, IndexDir)
	}
	return nil
}

// OpenPartial implements storage.Partials.
func (s *Store) OpenPartial(ref storage.PartialRef, create bool) (storage.Partial, error) {
	if err := storage.ValidUploadID(ref.ID); err != nil {
		return nil, err
	}
	if ref.Target == "" {
		return nil, fmt.Errorf("%w: s3: a resumable upload must name its file when it starts", storage.ErrInvalidName)
	}
	if err := validName(ref.Target); err != nil {
		return nil, err
	}
	var st partialState
	if create {
		if err := s.checkKeyLength(ref.Target); err != nil {
			return nil, err
		}
		if len(ref.State) > 0 {
			s.RemovePartial(ref)
		}
	} else if len(ref.State) > 0 {
		if err := json.Unmarshal(ref.State, &st); err != nil {
			return nil, fmt.Errorf("%w: s3: upload %s has a corrupt state: %w", storage.ErrIO, ref.ID, err)
		}
		if len(st.Stale) > 0 {
			// This state is recorded, so the tails it replaced are garbage now.
			ctx, cancel := context.WithTimeout(context.Background(), partialTimeout)
			s.removeKeys(ctx, st.Stale)
			cancel()
			st.Stale = nil
		}
	}
	return &partial{s: s, id: ref.ID, name: ref.Target, rec: st, cur: st, guard: ref.Guard}, nil
}

// RemovePartial implements storage.Partials: it aborts the multipart upload and removes the
// tail objects.
func (s *Store) RemovePartial(ref storage.PartialRef) error {
	if err := storage.ValidUploadID(ref.ID); err != nil {
		return err
	}
	var st partialState
	if len(ref.State) > 0 {
		if err := json.Unmarshal(ref.State, &st); err != nil {
			return fmt.Errorf("%w: s3: upload %s has a corrupt state: %w", storage.ErrIO, ref.ID, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), partialTimeout)
	defer cancel()
	if ref.Target != "" {
		if err := s.abortUpload(ctx, s.key(ref.Target), st.UploadID); err != nil {
			return err
		}
	}
	// Every tail of the upload, also one a crash left unrecorded between its write and the
	// session's.
	return s.removeKeys(ctx, append(append(st.Stale, st.Tail), s.tailKeys(ctx, ref.ID)...))
}

// tailKeys lists the tail objects kept for upload id, recorded or not. A listing that fails
// gives what it got: the caller removes what it can, and the reaper tries again later.
func (s *Store) tailKeys(ctx context.Context, id string) []string {
	var keys []string
	for obj := range s.core.Client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.key(PartialDir + "/" + id + "/"), Recursive: true}) {
		if obj.Err != nil {
			break
		}
		keys = append(keys, obj.Key)
	}
	return keys
}

func (s *Store) abortUpload(ctx context.Context, key, uploadID string) error {
	if uploadID == "" {
		return nil
	}
	err := s.core.AbortMultipartUpload(ctx, s.bucket, key, uploadID)
	if err != nil && minio.ToErrorResponse(err).Code != "NoSuchUpload" {
		return mapErr("abort multipart upload", err)
	}
	return nil
}

// removeKeys deletes objects by key; missing ones are not an error.
func (s *Store) removeKeys(ctx context.Context, keys []string) error {
	for _, k := range keys {
		if k == "" {
			continue
		}
		if err := s.core.RemoveObject(ctx, s.bucket, k, minio.RemoveObjectOptions{}); err != nil {
			if mapped := mapErr("remove", err); !errors.Is(mapped, storage.ErrNotFound) {
				return mapped
			}
		}
	}
	return nil
}

// partial is one open resumable upload. rec is the last state the caller recorded (the one it
// was opened with, at first), cur the state after the last Sync; w continues
// the multipart upload.
type partial struct {
	s         *Store
	id, name  string
	rec, cur  partialState
	w         *writer
	synced    bool // a Sync wrote something: tails may exist that no state names
	committed bool
	guard     func(context.Context) error // see storage.PartialRef.Guard
}

// Recorded implements storage.Partial. The tails the recorded state replaced are garbage
// from now on: they go at once, so that an upload checkpointed many times in one request
// does not pile them up until it ends.
func (p *partial) Recorded() {
	if len(p.cur.Stale) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), partialTimeout)
		if p.s.removeKeys(ctx, p.cur.Stale) == nil {
			p.cur.Stale = nil
		}
		cancel()
	}
	p.rec = p.cur
}

func (p *partial) State() []byte {
	b, _ := json.Marshal(p.cur)
	return b
}

func (p *partial) Size() (int64, error) { return p.cur.size(), nil }

// AppendAt implements storage.Partial. The offset is always the recorded one: the state and
// the offset are recorded together.
func (p *partial) AppendAt(ctx context.Context, offset int64) (io.Writer, error) {
	if offset != p.cur.size() {
		return nil, fmt.Errorf("%w: s3: upload %s holds %d bytes, not %d", storage.ErrIO, p.id, p.cur.size(), offset)
	}
	if p.w == nil {
		if err := p.resume(ctx); err != nil {
			return nil, err
		}
	}
	p.w.waits = ctx
	return p.w, nil
}

// resume makes the writer that continues the recorded state: the same multipart upload, the
// next part number, and the tail read back into the part buffer.
func (p *partial) resume(ctx context.Context) error {
	w := newWriter(context.Background(), p.s, p.name)
	w.waits = ctx
	w.guard = p.guard
	w.hash = nil  // the session keeps the running digest of the whole upload
	w.keep = true // the recorded multipart upload is the session's to remove
	w.uploadID = p.cur.UploadID
	w.parts = slices.Clone(p.cur.Parts)
	for _, pt := range w.parts {
		w.next = max(w.next, pt.N)
	}
	w.n = p.cur.size()
	if p.cur.Tail != "" {
		var err error
		if p.cur.TailSize > int64(p.s.opts.PartSize) {
			// Recorded with a larger part_size than today's: the tail is sent as one part.
			if err = w.reserve(p.cur.TailSize); err == nil {
				w.buf = make([]byte, 0, p.cur.TailSize)
			}
		} else {
			err = w.grow(p.s.opts.PartSize)
		}
		if err != nil {
			w.Abort()
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), partialTimeout)
		defer cancel()
		obj, _, _, err := p.s.core.GetObject(ctx, p.s.bucket, p.cur.Tail, minio.GetObjectOptions{})
		if err == nil {
			var n int
			n, err = io.ReadFull(obj, w.buf[:p.cur.TailSize])
			obj.Close()
			w.buf = w.buf[:n]
		}
		if err != nil {
			w.release()
			return mapErr("read tail of upload "+p.id, err)
		}
	}
	p.w = w
	return nil
}

// Sync implements storage.Partial: it waits for the parts in flight, sends a full buffer as a
// part and writes what is left as the new tail object.
func (p *partial) Sync() error {
	w := p.w
	if w == nil || w.n == p.cur.size() && w.uploadID == p.cur.UploadID {
		return nil
	}
	if len(w.buf) >= p.s.opts.PartSize {
		if err := w.sendPart(); err != nil {
			return err
		}
	}
	w.wg.Wait()
	if err := w.failed(); err != nil {
		return err
	}
	next := partialState{UploadID: w.uploadID, TailSize: int64(len(w.buf))}
	w.mu.Lock()
	next.Parts = slices.Clone(w.parts)
	w.mu.Unlock()
	slices.SortFunc(next.Parts, func(a, b part) int { return a.N - b.N })
	if len(w.buf) > 0 {
		next.Tail = p.s.key(PartialDir + "/" + p.id + "/" + strconv.FormatInt(w.n, 10) + "-" + storage.RandomID())
		ctx, cancel := context.WithTimeout(context.Background(), partialTimeout)
		err := w.guarded(ctx)
		if err == nil {
			_, err = p.s.core.PutObject(ctx, p.s.bucket, next.Tail, bytes.NewReader(w.buf), int64(len(w.buf)), "", "", minio.PutObjectOptions{DisableContentSha256: p.s.opts.UnsignedPayload})
			if err != nil {
				err = mapErr("write tail of upload "+p.id, err)
			}
		}
		cancel()
		if err != nil {
			return err
		}
	}
	next.Stale = p.cur.Stale
	if p.cur.Tail != "" {
		next.Stale = append(slices.Clone(next.Stale), p.cur.Tail)
	}
	p.cur, p.synced = next, true
	return nil
}

// Truncate implements storage.Partial for the sizes the caller uses: the size written so far
// (nothing to do), or the recorded size, which drops everything written since it was recorded.
// The parts sent meanwhile are overwritten by the next ones of the same numbers.
func (p *partial) Truncate(size int64) error {
	switch {
	case p.w == nil && size == p.cur.size(), p.w != nil && size == p.w.n:
		return nil
	case size == p.rec.size():
		p.abandon()
		p.cur = p.rec
		return nil
	}
	return fmt.Errorf("%w: s3: cannot cut upload %s back to %d bytes", storage.ErrIO, p.id, size)
}

// abandon stops the writer without touching the recorded multipart upload; one the writer
// started itself, and that no recorded state names, is aborted.
func (p *partial) abandon() {
	w := p.w
	if w == nil {
		return
	}
	p.w = nil
	w.keep = w.uploadID == p.rec.UploadID
	w.Abort()
}

// Commit implements storage.Partial: the tail becomes the last part, and the multipart upload
// is completed under the name if it is still free (or a small upload is put whole).
func (p *partial) Commit(ctx context.Context, name string, length int64, meta storage.Meta) (storage.Meta, error) {
	if name != p.name {
		return storage.Meta{}, fmt.Errorf("%w: s3: upload %s was started for %q, not %q", storage.ErrInvalidName, p.id, p.name, name)
	}
	if p.w == nil {
		if err := p.resume(ctx); err != nil {
			return storage.Meta{}, err
		}
	}
	if p.w.n != length {
		return storage.Meta{}, fmt.Errorf("%w: s3: upload %s holds %d bytes, not %d", storage.ErrIO, p.id, p.w.n, length)
	}
	if err := p.w.guarded(ctx); err != nil {
		return storage.Meta{}, err // the upload is another request's now
	}
	w, uploadID := p.w, p.w.uploadID
	// A multipart upload no recorded state names is aborted if the commit fails; a recorded
	// one stays for the commit to be tried again (a HEAD does), unless the name is taken.
	w.keep = uploadID == p.rec.UploadID
	out, err := w.Commit(ctx, meta)
	if err == nil {
		crashpoint.Here("object-completed")
	}
	if errors.Is(err, storage.ErrExists) && w.keep {
		actx, cancel := context.WithTimeout(context.Background(), abortTimeout)
		p.s.abortUpload(actx, w.key, uploadID)
		cancel()
	}
	if err != nil {
		return storage.Meta{}, err
	}
	p.committed = true
	cctx, cancel := context.WithTimeout(context.Background(), partialTimeout)
	defer cancel()
	// cur names every tail a recorded state named: its own, or, once replaced, in Stale.
	keys := append(slices.Clone(p.cur.Stale), p.cur.Tail)
	if p.synced || p.rec.Tail != "" || len(p.rec.Stale) > 0 {
		// Tails a sync wrote that no recorded state names (a failed session write, a crash).
		keys = append(keys, p.s.tailKeys(cctx, p.id)...)
	}
	p.s.removeKeys(cctx, keys)
	return out, nil
}

// Adopt implements storage.Partials: the object is recognised by its size and digest (the
// metadata it was completed with); the multipart upload, if any is left, and the tails go.
func (s *Store) Adopt(ctx context.Context, ref storage.PartialRef, name string, length int64, meta storage.Meta) (storage.Meta, error) {
	if err := validName(name); err != nil {
		return storage.Meta{}, err
	}
	info, err := s.stat(ctx, name)
	if err != nil {
		return storage.Meta{}, err
	}
	stored := metaOf(name, info)
	if stored.Size != length {
		return storage.Meta{}, storage.ErrNotFound
	}
	if meta.SHA256 != "" && stored.SHA256 != meta.SHA256 {
		if stored.SHA256 != "" {
			return storage.Meta{}, storage.ErrNotFound
		}
		// The metadata is added after the object is complete (describe), and a crash may
		// have come first: the bytes themselves must tell.
		if sum, err := s.digest(ctx, name); err != nil || sum != meta.SHA256 {
			return storage.Meta{}, storage.ErrNotFound
		}
		(&writer{s: s, key: s.key(name)}).describe(ctx, info.ETag, meta)
		meta.Name, meta.Size, meta.Created = name, length, info.LastModified
		stored = meta
	}
	ref.Target = name
	if err := s.RemovePartial(ref); err != nil {
		return storage.Meta{}, err
	}
	return stored, nil
}

// digest is the hex SHA-256 of a stored object's bytes.
func (s *Store) digest(ctx context.Context, name string) (string, error) {
	obj, _, _, err := s.core.GetObject(ctx, s.bucket, s.key(name), minio.GetObjectOptions{})
	if err != nil {
		return "", mapErr("read", err)
	}
	defer obj.Close()
	h := sha256.New()
	if _, err := io.Copy(h, obj); err != nil {
		return "", mapErr("read", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Close implements storage.Partial: parts in flight are waited for; the recorded data stays.
func (p *partial) Close() error {
	if !p.committed {
		p.abandon()
	}
	return nil
}
