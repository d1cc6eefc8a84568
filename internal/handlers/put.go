package handlers

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"fileserver/internal/chunking"
	"fileserver/internal/hmacauth"
	"fileserver/internal/ops"
	"fileserver/internal/storage"
	"fileserver/internal/streaming"
)

// put is the XEP-0363 upload: PUT to a signed URL, answered 201 (docs/clients.md, "Upload
// status"). Every check that can refuse the upload runs before the body is read, so a client
// that sent "Expect: 100-continue" gets the final status instead of 100.
//
// With resumable uploads on, a PUT is also resumable: an interrupted one keeps its bytes, a
// PUT with Content-Range continues it (curl -C), and one with Upload-Complete starts an IETF
// draft upload.
func (s *xep) put(w http.ResponseWriter, r *http.Request) error {
	name, err := s.fileName(r)
	if err != nil {
		return err
	}
	size, cr, hasRange, err := putSize(r)
	if err != nil {
		return err
	}
	g, err := s.authorize(r, name, size)
	if err != nil {
		return err
	}
	want, err := s.precheck(r, name, size, g, s.ownUpload(r, name, hasRange))
	if err != nil {
		return err
	}
	meta := fileMeta(storedType(declaredType(r, g), name), s.uploaderKey(r, g), g)
	switch {
	case s.uploads == nil:
		if _, err := s.accept(w, r, name, r.Body, want, g, meta); err != nil {
			return err
		}
	case hasRange:
		return s.rangePut(w, r, name, cr, meta)
	case isIETF(r):
		// The length is what the credential binds (v1, v2, a token), else what the request
		// declares: with Upload-Complete: ?0 its Content-Length is only its own part.
		sess := s.session(r, g, chunking.NewID(), "ietf")
		sess.Target, sess.Length, sess.ContentType = name, g.Size, meta.ContentType
		return s.ietf.ietfUpload(w, r, sess)
	default:
		if err := s.resumablePut(w, r, name, want, g, meta); err != nil {
			return err
		}
	}
	w.Header().Set("Location", s.downloadURL(r, name))
	w.WriteHeader(http.StatusCreated)
	return nil
}

// putSize decides which length a PUT's credential is checked against: the upload's total
// length for a Content-Range PUT, since the MAC binds that and not the request's own,
// else the Content-Length (-1 when unknown). It also returns the parsed Content-Range.
func putSize(r *http.Request) (size int64, cr contentRange, hasRange bool, err error) {
	cr, hasRange, err = parseContentRange(r.Header.Get("Content-Range"))
	if err != nil {
		return 0, cr, hasRange, errorf(http.StatusBadRequest, err.Error())
	}
	if hasRange {
		return cr.total, cr, true, nil
	}
	return r.ContentLength, cr, false, nil
}

// declaredType decides whose Content-Type a file is stored with: v1 and v3 sign none, so the
// request's own counts; the other credentials name the type they were issued for.
func declaredType(r *http.Request, g hmacauth.Grant) string {
	if g.Scheme == hmacauth.SchemeV1 || g.Scheme == hmacauth.SchemeV3 {
		return r.Header.Get("Content-Type")
	}
	return g.ContentType
}

// ownUpload decides whether a file already at name may be the request's own upload's. A
// Content-Range PUT may find the name taken by its own upload's file, committed just before a
// crash kept that from being recorded: while its session is unfinished, the upload finishes
// it (rangePut) instead of being refused.
func (s *xep) ownUpload(r *http.Request, name string, hasRange bool) bool {
	if !hasRange || s.uploads == nil {
		return false
	}
	sess, err := s.uploads.Get(r.Context(), s.putID(r.Context(), name))
	return err == nil && !sess.Completed
}

// resumablePut stores a whole PUT's body as a resumable upload of want bytes. When it fails,
// what arrived is kept and Upload-Offset says where a Content-Range PUT can continue from.
func (s *xep) resumablePut(w http.ResponseWriter, r *http.Request, name string, want int64, g hmacauth.Grant, meta storage.Meta) error {
	req := s.appendRequest(w, r, 0, protocolLabel(r, g))
	req.Meta = meta
	sess := s.session(r, g, s.putID(r.Context(), name), "put")
	sess.Target, sess.Length, sess.ContentType = name, want, meta.ContentType
	got, err := s.uploads.Put(r.Context(), sess, req)
	if err == nil {
		return nil
	}
	if s.kept(got, err) && got.Offset > 0 {
		w.Header().Set("Upload-Offset", itoa(got.Offset))
	}
	return lengthError(err, want)
}

// fileMeta is what a file uploaded under grant g is stored with: its type, its uploader and
// the lifetime the grant states (a token's expires claim, marked as such), if any.
func fileMeta(contentType, uploader string, g hmacauth.Grant) storage.Meta {
	m := storage.Meta{ContentType: contentType, Uploader: uploader, Expires: g.FileExpires}
	if !m.Expires.IsZero() {
		m.ExpiresBy = storage.ExpiresByToken
	}
	return m
}

// errLonger and errShorter answer a body whose length is not the one its request announced
// (Content-Length, or the size its credential binds); cause, if any, is logged.
func errLonger(cause error) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Msg: "body longer than the announced size", Err: cause}
}

func errShorter(cause error) *Error {
	return &Error{Status: http.StatusBadRequest, Msg: "body shorter than the announced size", Err: cause}
}

// lengthError words a length failure for a plain upload.
func lengthError(err error, want int64) error {
	switch {
	case errors.Is(err, chunking.ErrTooLarge) && want >= 0:
		return errLonger(err)
	case errors.Is(err, chunking.ErrLengthMismatch):
		return errShorter(err)
	}
	return err
}

// precheck runs the checks every upload passes before its body is read, and returns the
// exact length the body must have (-1 when nothing announced one). size is the announced
// length (-1 unknown); g.Size, when known, is the length the credential binds. With
// maybeOwn, a file at name may be the request's own upload's (its session decides).
func (s *xep) precheck(r *http.Request, name string, size int64, g hmacauth.Grant, maybeOwn bool) (int64, error) {
	if err := s.checkSizes(size, g.Size); err != nil {
		return 0, err
	}
	if !s.exts.permits(name) {
		return 0, errorf(http.StatusUnsupportedMediaType, "file type not allowed")
	}
	if err := s.ops.Check(r.Context(), name); err != nil {
		return 0, err
	}
	if err := s.checkFree(r.Context(), name, maybeOwn); err != nil {
		return 0, err
	}
	if size >= 0 {
		return size, nil
	}
	return g.Size, nil
}

// checkSizes decides whether an upload's lengths are acceptable: the announced size and the
// size the credential binds (each -1 when unknown) must both be within max_size, and agree
// when both are known.
func (s *xep) checkSizes(size, bound int64) error {
	for _, n := range []int64{size, bound} {
		if limit := s.cfg.MaxSize; n >= 0 && limit > 0 && n > limit {
			return errorf(http.StatusRequestEntityTooLarge, msgTooLarge)
		}
	}
	if bound >= 0 && size >= 0 && bound != size {
		return errorf(http.StatusRequestEntityTooLarge, "size does not match the upload slot")
	}
	return nil
}

// checkFree decides whether name may be uploaded to: a file already there refuses the upload
// unless maybeOwn says it may be the request's own upload's, which its session then decides.
// A failure to look is returned as it is, since it says nothing about the name.
func (s *xep) checkFree(ctx context.Context, name string, maybeOwn bool) error {
	_, err := s.store.Stat(ctx, name)
	switch {
	case err == nil && !maybeOwn:
		return errorf(http.StatusConflict, "file already exists")
	case err != nil && !errors.Is(err, storage.ErrNotFound):
		return err
	}
	return nil
}

// accept streams body into a new file and commits it, for uploads that are not resumable
// (POST, and PUT when resumable uploads are off). want is the exact length the body must
// have, or -1.
func (s *xep) accept(w http.ResponseWriter, r *http.Request, name string, body io.Reader, want int64, g hmacauth.Grant, meta storage.Meta) (storage.Meta, error) {
	hold, held, limit, byQuota, err := s.holdQuota(meta.Uploader, want, s.copyLimit(want))
	if err != nil {
		return storage.Meta{}, err
	}
	defer s.quota.Release(meta.Uploader, hold)
	defer s.quota.Keep(meta.Uploader, hold, held)() // stopped before the Release
	wr, err := s.store.Create(r.Context(), name)
	if err != nil {
		return storage.Meta{}, err
	}
	defer wr.Abort() // a no-op once committed
	if want > 0 {
		// Provide for the space before reading a byte: a full disk is a 507 now, not halfway.
		if _, err := storage.Reserve(wr, want); err != nil {
			return storage.Meta{}, err
		}
	}
	rc := http.NewResponseController(w)
	id := "req-" + storage.RandomID()[:16] // how the admin API names this upload
	c := ops.Commit{ID: id, Name: name, Protocol: protocolLabel(r, g), Client: remoteHost(r), Uploader: meta.Uploader}
	// The bytes go to the malware scanner as they are written, not read again after.
	dst, scanning := io.Writer(wr), s.ops.StartScan(r.Context(), want)
	if scanning != nil {
		defer scanning.Abort()
		dst = teeWriter{wr, scanning}
	}
	res, err := s.engine.Copy(r.Context(), dst, body, streaming.Transfer{
		Protocol:    protocolLabel(r, g),
		Direction:   streaming.Upload,
		Client:      remoteHost(r),
		Limit:       limit,
		Idle:        s.cfg.ReadIdleTimeout,
		SetDeadline: rc.SetReadDeadline,
		Upload:      &streaming.UploadInfo{ID: id, Name: name, Length: want, Uploader: meta.Uploader},
	})
	if info := infoFrom(r.Context()); info != nil {
		info.bytesIn, info.bufferSize = res.Bytes, res.BufferSize
	}
	if err != nil {
		if errors.Is(err, streaming.ErrIdle) {
			// The engine cleared the expired deadline. Expire it again, or net/http's drain of
			// the unread body before the 408 would wait on the stalled client forever.
			rc.SetReadDeadline(time.Now())
		}
		return storage.Meta{}, copyFailure(err, want, limit, byQuota)
	}
	if err := wholeLength(res.Bytes, want); err != nil {
		return storage.Meta{}, err
	}
	if c.Scan, err = s.ops.Verdict(scanning, c); err != nil {
		return storage.Meta{}, err
	}
	stored, err := s.commit(r, wr, c, meta)
	if err != nil {
		return storage.Meta{}, err
	}
	w.Header().Set("Location", s.downloadURL(r, name))
	return stored, nil
}

// commit publishes a received upload (c names it), unless a takedown made while it streamed
// or committed covers its name (see ops.Committed), and tells the operator's side.
func (s *xep) commit(r *http.Request, wr storage.Writer, c ops.Commit, meta storage.Meta) (storage.Meta, error) {
	if err := s.ops.Check(r.Context(), c.Name); err != nil {
		return storage.Meta{}, err
	}
	stored, err := wr.Commit(r.Context(), meta)
	if err != nil {
		return storage.Meta{}, err
	}
	c.Uploader, c.SHA256, c.Size, c.ContentType = stored.Uploader, stored.SHA256, stored.Size, stored.ContentType
	if err := s.ops.Committed(r.Context(), c); err != nil {
		return storage.Meta{}, err
	}
	return stored, nil
}

// teeWriter writes to the store and hands what it wrote to the malware scanner.
type teeWriter struct {
	w    io.Writer
	scan io.Writer
}

func (t teeWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	t.scan.Write(p[:n])
	return n, err
}

// copyLimit decides how many bytes a plain upload of want bytes (-1: unknown) may copy: the
// smaller of want and max_size. want 0 cannot be the engine's Limit, which reads 0 as "none":
// the max_size limit stays and the length check after the copy refuses any byte.
func (s *xep) copyLimit(want int64) int64 {
	limit := s.cfg.MaxSize
	if want > 0 && (limit == 0 || want < limit) {
		limit = want
	}
	return limit
}

// wholeLength decides whether a body that arrived whole, got bytes of it, is the length its
// request announced (want, -1 when none was): a longer one is a 413, a shorter one a 400.
func wholeLength(got, want int64) error {
	switch {
	case want < 0:
		return nil
	case got > want:
		return errLonger(nil)
	case got != want:
		return errShorter(nil)
	}
	return nil
}

// holdQuota holds, for an upload of want bytes (-1: unknown) bounded by limit, its length of
// the uploader's daily quota while it runs (or, of unknown length, what the quota leaves,
// which then bounds it: byQuota); the commit charges it. It returns the hold, what is held
// and the limit that results.
func (s *xep) holdQuota(uploader string, want, limit int64) (hold string, held, bound int64, byQuota bool, err error) {
	hold, held, bound = storage.RandomID(), want, limit
	if want >= 0 {
		return hold, held, bound, false, s.quota.Reserve(uploader, hold, want)
	}
	if !s.quota.On() {
		return hold, held, bound, false, nil
	}
	room := int64(math.MaxInt64)
	if limit > 0 {
		room = limit
	}
	if held, err = s.quota.ReserveUpTo(uploader, hold, 1, room); err != nil {
		return hold, held, bound, false, err
	}
	return hold, held, held, held < room, nil
}

// copyFailure words a failed copy into a plain upload of want bytes (-1: unknown) that was
// bounded by limit, byQuota when the daily quota set that bound.
func copyFailure(err error, want, limit int64, byQuota bool) error {
	switch {
	case errors.Is(err, streaming.ErrTooLarge) && want >= 0 && limit == want:
		return errLonger(err)
	case errors.Is(err, streaming.ErrTooLarge) && byQuota:
		return storage.ErrQuota
	}
	return err
}

// protocolLabel names the upload protocol for metrics: the signature scheme for PUT, "post"
// for POST.
func protocolLabel(r *http.Request, g hmacauth.Grant) string {
	if r.Method == http.MethodPost {
		return "post"
	}
	return strings.ToLower(string(g.Scheme))
}
