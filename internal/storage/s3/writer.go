package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"slices"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"fileserver/internal/adaptivebuf"
	"fileserver/internal/storage"
)

// writer streams one upload into the object store. Bytes fill a part buffer; when a full
// buffer is followed by more bytes it is sent as a part by a goroutine of its own while the
// next buffer fills, at most Options.Concurrency parts at once, so memory stays within
// (Concurrency + 1) * PartSize whatever the upload's size, and every byte of it is reserved
// from Options.Budget before it is allocated. An upload that never fills one part is sent
// whole by Commit as a single PutObject. Write, Commit and Abort are called by one goroutine;
// only the part goroutines run beside it. A resumable upload's writer starts from the parts
// and tail an earlier one left (partial.go).
type writer struct {
	s         *Store
	name, key string
	// ctx bounds every part upload; cancel stops them all (Abort, or a failed part).
	ctx    context.Context
	cancel context.CancelFunc
	// waits bounds waiting for memory: the request's context, whose end (a hand-off, the
	// client gone) must not leave the upload stuck waiting.
	waits  context.Context
	hash   hash.Hash
	buf    []byte  // the part being filled
	pooled *[]byte // buf's pool entry, when buf is a full-size pooled buffer
	// res is the budget reserved for buf's capacity.
	res []*adaptivebuf.Buffer
	n   int64
	// uploadID is the multipart upload, once one is started; "" again after it completes.
	uploadID string
	next     int           // number of the last part handed to a goroutine
	inflight chan struct{} // one token per part being sent
	wg       sync.WaitGroup
	done     bool
	// keep leaves the multipart upload alone on Abort: a resumable upload's is recorded in
	// its session, which removes it.
	keep bool
	// guard, when set, is asked before each part is sent (storage.PartialRef.Guard): a writer
	// that lost its lease on a resumable upload must not send parts another node records.
	guard func(context.Context) error

	mu    sync.Mutex
	parts []part
	err   error // the first failed part's
}

var (
	_ storage.Reserver = (*writer)(nil)
	_ storage.Aligner  = (*writer)(nil)
)

// Boundary implements storage.Aligner: at a part boundary (the part buffer empty, or full
// and about to be sent) a Sync sends full parts only and writes no tail.
func (w *writer) Boundary() int64 {
	if n := len(w.buf); n > 0 && n < w.s.opts.PartSize {
		return int64(w.s.opts.PartSize - n)
	}
	return 0
}

// part is one uploaded part of a multipart upload.
type part struct {
	N    int    `json:"n"`
	ETag string `json:"etag"`
	Size int64  `json:"size"`
}

// abortTimeout bounds the clean-up of an abandoned multipart upload.
const abortTimeout = 10 * time.Second

func newWriter(ctx context.Context, s *Store, name string) *writer {
	waits := ctx
	ctx, cancel := context.WithCancel(ctx)
	w := &writer{
		s: s, name: name, key: s.key(name), ctx: ctx, cancel: cancel, waits: waits,
		inflight: make(chan struct{}, s.opts.Concurrency),
	}
	if s.opts.Checksum {
		w.hash = sha256.New()
	}
	return w
}

// Reserve implements storage.Reserver: with the upload's length announced, the first buffer
// is sized for it at once (at most one part) instead of growing as bytes arrive.
func (w *writer) Reserve(n int64) error {
	if w.n == 0 && w.buf == nil && n > 0 {
		return w.grow(int(min(n, int64(w.s.opts.PartSize))))
	}
	return nil
}

// Write implements storage.Writer.
func (w *writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, errors.New("s3: write after commit or abort")
	}
	written := 0
	for len(p) > 0 {
		if len(w.buf) >= w.s.opts.PartSize {
			if err := w.sendPart(); err != nil {
				return written, err
			}
		}
		if len(w.buf) == cap(w.buf) {
			if err := w.grow(len(p)); err != nil {
				return written, err
			}
		}
		c := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf = w.buf[:len(w.buf)+c]
		if w.hash != nil {
			w.hash.Write(p[:c])
		}
		w.n += int64(c)
		written += c
		p = p[c:]
	}
	return written, w.failed()
}

// grow makes room for at least need more bytes, up to a whole part. An upload's first buffer
// is 64 KiB, or the announced length up to a part (Reserve), so a 4 KiB file does not cost
// 8 MiB; the next one is a whole part, from the pool. Each new buffer is reserved from the
// budget whole before the old one is given back: an upload waiting for memory holds at most
// its small first buffer, so uploads waiting for each other cannot hold the budget between
// them while none can finish a part.
func (w *writer) grow(need int) error {
	size := w.s.opts.PartSize
	if w.uploadID == "" && w.next == 0 && cap(w.buf) == 0 {
		size = min(size, max(need, 64<<10))
	}
	if size <= cap(w.buf) {
		return nil
	}
	old, oldPooled := w.res, w.pooled
	w.res = nil
	if err := w.reserve(int64(size)); err != nil {
		w.res = old
		return err
	}
	if size == w.s.opts.PartSize {
		w.pooled = w.s.parts.Get().(*[]byte)
		w.buf = append((*w.pooled)[:0], w.buf...)
	} else {
		w.pooled = nil
		w.buf = append(make([]byte, 0, size), w.buf...)
	}
	if oldPooled != nil {
		w.s.parts.Put(oldPooled)
	}
	w.unreserve(old)
	return nil
}

// reserve takes n bytes of the memory budget for buf. It does not queue in the pool, where
// a part's worth would hold up every smaller buffer behind it (downloads' among them): it
// tries again now and then until the budget has room, the pool's longest wait has passed
// (ErrBudget), or w.waits ends (a hand-off, the client gone).
func (w *writer) reserve(n int64) error {
	pool := w.s.opts.Budget
	if pool == nil {
		return nil
	}
	var expired <-chan time.Time
	if d := pool.MaxWait(); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		expired = t.C
	}
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		r, err := pool.TryReserve(n)
		if err != nil {
			return fmt.Errorf("s3: part buffer: %w", err)
		}
		if r != nil {
			w.res = append(w.res, r)
			return nil
		}
		if pool.Policy() == adaptivebuf.Refuse {
			return fmt.Errorf("s3: part buffer of %d bytes: %w", n, adaptivebuf.ErrBudget)
		}
		select {
		case <-time.After(delay):
		case <-expired:
			return fmt.Errorf("s3: no part buffer of %d bytes within %v: %w", n, pool.MaxWait(), adaptivebuf.ErrBudget)
		case <-w.waits.Done():
			return fmt.Errorf("s3: waiting for a part buffer: %w", context.Cause(w.waits))
		}
	}
}

// unreserve gives the reservations res back.
func (w *writer) unreserve(res []*adaptivebuf.Buffer) {
	for _, r := range res {
		w.s.opts.Budget.Release(r)
	}
}

func (w *writer) Written() int64 { return w.n }

func (w *writer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// fail records the first error of a part and stops the others.
func (w *writer) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	w.cancel()
}

// sendPart hands the buffer to a goroutine that uploads it as the next part, starting the
// multipart upload first if needed. It waits while Concurrency parts are in flight.
func (w *writer) sendPart() error {
	if err := w.failed(); err != nil {
		return err
	}
	if w.next == maxParts {
		return fmt.Errorf("%w: s3: upload longer than %d parts of %d bytes", storage.ErrIO, maxParts, w.s.opts.PartSize)
	}
	if w.uploadID == "" {
		id, err := w.s.core.NewMultipartUpload(w.ctx, w.s.bucket, w.key, minio.PutObjectOptions{})
		if err != nil {
			return mapErr("start multipart upload", err)
		}
		w.uploadID = id
	}
	select {
	case w.inflight <- struct{}{}:
	case <-w.ctx.Done():
		if err := w.failed(); err != nil {
			return err
		}
		return fmt.Errorf("s3: upload part: %w", w.ctx.Err())
	}
	w.next++
	num, data, pooled, res, id := w.next, w.buf, w.pooled, w.res, w.uploadID
	w.buf, w.pooled, w.res = nil, nil, nil
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		var up minio.ObjectPart
		err := w.guarded(w.ctx)
		if err == nil {
			up, err = w.s.core.PutObjectPart(w.ctx, w.s.bucket, w.key, id, num,
				bytes.NewReader(data), int64(len(data)), minio.PutObjectPartOptions{DisableContentSha256: w.s.opts.UnsignedPayload})
		}
		if pooled != nil {
			*pooled = data[:0]
			w.s.parts.Put(pooled)
		}
		w.unreserve(res)
		<-w.inflight
		if err != nil {
			if w.guard != nil && errors.Is(err, errGuard) {
				w.fail(err)
			} else {
				w.fail(mapErr(fmt.Sprintf("upload part %d", num), err))
			}
			return
		}
		w.mu.Lock()
		w.parts = append(w.parts, part{N: num, ETag: up.ETag, Size: int64(len(data))})
		w.mu.Unlock()
	}()
	return nil
}

// errGuard marks the error of a guard that refused a write, to be passed on as it is.
var errGuard = errors.New("s3: write refused by its guard")

// guarded asks the writer's guard, if any; its refusal wraps errGuard and the guard's error.
func (w *writer) guarded(ctx context.Context) error {
	if w.guard == nil {
		return nil
	}
	if err := w.guard(ctx); err != nil {
		return fmt.Errorf("%w: %w", errGuard, err)
	}
	return nil
}

// Commit implements storage.Writer. The object appears only here, and only if no object of
// that name exists: the final request (PutObject, or CompleteMultipartUpload) carries
// If-None-Match: *, which the object store evaluates atomically against concurrent writers,
// so the loser of two uploads of one name gets ErrExists and the winner's bytes stay whole.
func (w *writer) Commit(ctx context.Context, meta storage.Meta) (storage.Meta, error) {
	if w.done {
		return storage.Meta{}, errors.New("s3: commit after commit or abort")
	}
	defer w.Abort() // a no-op once committed
	if err := w.failed(); err != nil {
		return storage.Meta{}, err
	}
	meta.Name, meta.Size = w.name, w.n
	if w.hash != nil {
		meta.SHA256 = hex.EncodeToString(w.hash.Sum(nil))
	}
	// The object's markers in the expiry index come first: an object that exists has them.
	if err := w.s.mark(ctx, w.name, time.Now(), meta.Expires); err != nil {
		return storage.Meta{}, err
	}
	if w.uploadID == "" {
		opts := minio.PutObjectOptions{ContentType: meta.ContentType, UserMetadata: userMetadata(meta), DisableContentSha256: w.s.opts.UnsignedPayload}
		opts.SetMatchETagExcept("*")
		// With the SHA-256 known, the client need not hash the body again to sign it.
		if _, err := w.s.core.PutObject(ctx, w.s.bucket, w.key, bytes.NewReader(w.buf), w.n, "", meta.SHA256, opts); err != nil {
			return storage.Meta{}, mapErr("put", err)
		}
	} else {
		if len(w.buf) > 0 || w.next == 0 {
			if err := w.sendPart(); err != nil { // the last part
				return storage.Meta{}, err
			}
		}
		w.wg.Wait()
		if err := w.failed(); err != nil {
			return storage.Meta{}, err
		}
		w.mu.Lock()
		parts := make([]minio.CompletePart, len(w.parts))
		for i, p := range w.parts {
			parts[i] = minio.CompletePart{PartNumber: p.N, ETag: p.ETag}
		}
		w.mu.Unlock()
		slices.SortFunc(parts, func(a, b minio.CompletePart) int { return a.PartNumber - b.PartNumber })
		opts := minio.PutObjectOptions{}
		opts.SetMatchETagExcept("*")
		info, err := w.s.core.CompleteMultipartUpload(ctx, w.s.bucket, w.key, w.uploadID, parts, opts)
		if err != nil {
			return storage.Meta{}, mapErr("complete multipart upload", err)
		}
		w.uploadID = ""
		w.describe(ctx, info.ETag, meta)
	}
	w.done = true
	w.cancel()
	w.release()
	meta.Created = time.Now()
	if q := w.s.opts.Quota; q != nil && meta.Uploader != "" {
		q.Charge(meta.Uploader, meta.Size, meta.Created)
	}
	return meta, nil
}

// describe sets a completed multipart object's metadata, which is only known once every byte
// has arrived (the SHA-256) or is handed over at Commit (content type, uploader, expiry),
// while S3 takes metadata when a multipart upload starts. It copies the object onto itself
// with replaced metadata, guarded by the ETag so that it can only touch the object this
// upload wrote. Object stores do this without copying the data (versitygw, MinIO); AWS
// copies server-side, and refuses above 5 GiB. Like the local store's sidecar, it is best
// effort: until it lands, or if it fails, the file is served with what the object itself
// tells (size, time; no content type, so as an attachment).
func (w *writer) describe(ctx context.Context, etag string, meta storage.Meta) {
	um := userMetadata(meta)
	if len(um) == 0 && meta.ContentType == "" {
		return
	}
	w.s.core.Client.CopyObject(ctx,
		minio.CopyDestOptions{Bucket: w.s.bucket, Object: w.key, ReplaceMetadata: true, UserMetadata: um, ContentType: meta.ContentType},
		minio.CopySrcOptions{Bucket: w.s.bucket, Object: w.key, MatchETag: etag})
}

// Abort implements storage.Writer: it stops the parts in flight and aborts the multipart
// upload, so the object store frees its parts. It is a no-op after Commit.
func (w *writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.cancel()
	w.wg.Wait()
	w.release()
	if w.uploadID == "" || w.keep {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), abortTimeout)
	defer cancel()
	err := w.s.core.AbortMultipartUpload(ctx, w.s.bucket, w.key, w.uploadID)
	w.uploadID = ""
	if err != nil && minio.ToErrorResponse(err).Code != "NoSuchUpload" {
		return mapErr("abort multipart upload", err)
	}
	return nil
}

// release gives the buffer back to the pool and its reservation to the budget.
func (w *writer) release() {
	if w.pooled != nil {
		*w.pooled = w.buf[:0]
		w.s.parts.Put(w.pooled)
	}
	w.unreserve(w.res)
	w.buf, w.pooled, w.res = nil, nil, nil
}
