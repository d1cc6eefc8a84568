package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"fileserver/internal/chunking"
	"fileserver/internal/storage"
)

// Content-Range PUT on a signed XEP-0363 URL: the session of an upload is keyed by its path,
// an interrupted PUT keeps what arrived, HEAD on the signed URL reports Upload-Offset, and
// `curl -C OFFSET -T file URL` continues it.

// contentRange is a parsed "bytes first-last/total" (RFC 9110 §14.4) of a request.
type contentRange struct {
	first, last, total int64
	// empty is "bytes */total": no data, the client asks where to continue.
	empty bool
}

// parseContentRange parses a request's Content-Range; ok is false when absent.
func parseContentRange(v string) (cr contentRange, ok bool, err error) {
	if v == "" {
		return cr, false, nil
	}
	bad := errors.New(`Content-Range must be "bytes first-last/total" with a known total`)
	rest, found := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !found {
		return cr, true, bad
	}
	rng, totalStr, found := strings.Cut(strings.TrimSpace(rest), "/")
	if !found {
		return cr, true, bad
	}
	total, present, err := parseOffset("Content-Range", totalStr)
	if err != nil || !present {
		return cr, true, bad
	}
	cr.total = total
	if rng == "*" {
		cr.empty = true
		return cr, true, nil
	}
	a, b, found := strings.Cut(rng, "-")
	first, p1, e1 := parseOffset("Content-Range", a)
	last, p2, e2 := parseOffset("Content-Range", b)
	if !found || !p1 || !p2 || e1 != nil || e2 != nil || first > last || last >= total {
		return cr, true, bad
	}
	cr.first, cr.last = first, last
	return cr, true, nil
}

// putID is the session id of the PUTs to a signed name. A retry must find the upload from
// the name alone, yet nobody without the server's secret may learn the id: it is keyed by
// the secret (160 bits of an HMAC), and handed out to no one. The /files/ routes do not
// reach these sessions at all; only the name's signed URL does. After a rotation of the
// secret, an upload interrupted before it keeps the id the old secret gave it (URLs signed
// with a previous secret still verify, so their uploads must still be found).
func (s *xep) putID(ctx context.Context, name string) string {
	id := putSessionID(s.verifier.Tag("upload-session", name))
	for _, tag := range s.verifier.PreviousTags("upload-session", name) {
		if old := putSessionID(tag); s.uploads.Exists(ctx, old) {
			return old
		}
	}
	return id
}

func putSessionID(tag string) string { return "put-" + tag[:min(40, len(tag))] }

// rangePut stores one Content-Range piece of an upload. Pieces must arrive in order: a piece
// that does not start at the upload's offset gets 409 with the offset to continue from. The
// answer is 2xx only when every byte of the piece was stored; otherwise it is an error status
// with the Upload-Offset to continue from, so that curl reports the failure.
func (s *xep) rangePut(w http.ResponseWriter, r *http.Request, name string, cr contentRange, meta storage.Meta) error {
	id := s.putID(r.Context(), name)
	if info := infoFrom(r.Context()); info != nil {
		info.protocol = "range-put"
	}
	if cr.empty {
		return s.rangeStatus(w, r, id, cr.total)
	}
	size := cr.last - cr.first + 1
	if r.ContentLength >= 0 && r.ContentLength != size {
		return errorf(http.StatusBadRequest, "Content-Length does not match Content-Range")
	}
	// A chunked body may run past its range; the bytes of the range are kept, the rest refused.
	r.Body = http.MaxBytesReader(w, r.Body, size)
	req := s.appendRequest(w, r, cr.first, "range-put")
	req.Meta, req.Length = meta, cr.total
	sess, err := s.storePiece(r.Context(), id, name, cr, req)
	return s.pieceAnswer(w, r, name, cr, sess, err)
}

// storePiece decides whether a piece starts the upload or continues it: the piece at byte 0
// begins it (again, if need be), any other is appended to the session already there.
func (s *xep) storePiece(ctx context.Context, id, name string, cr contentRange, req chunking.AppendRequest) (*chunking.Session, error) {
	if cr.first == 0 {
		meta := req.Meta
		return s.uploads.Begin(ctx, chunking.Session{ID: id, Protocol: "range-put", Target: name,
			Length: cr.total, ContentType: meta.ContentType, Uploader: meta.Uploader, FileExpires: meta.Expires}, req)
	}
	return s.uploads.Append(ctx, id, req)
}

// pieceAnswer decides the answer to a stored piece (sess and err from storePiece): 201 when
// the upload is complete, 204 when every byte of the piece was stored, and otherwise an error
// status with the Upload-Offset to continue from.
func (s *xep) pieceAnswer(w http.ResponseWriter, r *http.Request, name string, cr contentRange, sess *chunking.Session, err error) error {
	if sess != nil {
		w.Header().Set("Upload-Offset", itoa(sess.Offset))
	}
	var oe *chunking.OffsetError
	switch {
	case errors.Is(err, chunking.ErrNotFound):
		w.Header().Set("Upload-Offset", "0")
		return errorf(http.StatusConflict, "no upload in progress here: start at byte 0")
	case errors.As(err, &oe):
		return &Error{Status: http.StatusConflict, Msg: "Content-Range does not start at the upload's offset " + strconv.FormatInt(oe.Expected, 10), Err: err}
	case errors.Is(err, chunking.ErrCompleted) && sess != nil && sess.Completed:
		// A retry of a piece whose answer was lost: the upload it belongs to is complete.
		w.Header().Set("Upload-Offset", itoa(sess.Length))
		w.Header().Set("Location", s.downloadURL(r, name))
		w.WriteHeader(http.StatusCreated)
		return nil
	case errors.Is(err, chunking.ErrLengthMismatch) && sess != nil:
		return &Error{Status: http.StatusConflict, Msg: fmt.Sprintf("the upload here is %d bytes long, not %d", sess.Length, cr.total), Err: err}
	case err != nil:
		return err
	case sess.Completed:
		w.Header().Set("Location", s.downloadURL(r, name))
		w.WriteHeader(http.StatusCreated)
		return nil
	case sess.Offset != cr.last+1:
		return errorf(http.StatusBadRequest, "body ended before the end of its Content-Range")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// rangeStatus answers "Content-Range: bytes */total", a client asking where to continue: like
// HEAD on the signed URL, it takes the upload over from a request still writing it (which
// keeps what it received), so the offset is final.
func (s *xep) rangeStatus(w http.ResponseWriter, r *http.Request, id string, total int64) error {
	sess, err := s.uploads.Get(r.Context(), id)
	if err == nil {
		sess, err = s.uploads.Sync(r.Context(), id)
	}
	switch {
	case errors.Is(err, chunking.ErrNotFound), errors.Is(err, chunking.ErrExpired):
		w.Header().Set("Upload-Offset", "0")
		return errorf(http.StatusConflict, "no upload in progress here: start at byte 0")
	case err != nil:
		return err
	case sess.Length != total:
		return errorf(http.StatusConflict, fmt.Sprintf("the upload here is %d bytes long, not %d", sess.Length, total))
	}
	w.Header().Set("Upload-Offset", itoa(sess.Offset))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// signedHead answers HEAD on a signed upload URL while an upload there is unfinished: the
// offset to continue from. The signature covers the upload's total length. A PUT still in
// flight is cut off first (it keeps what it received), so the offset is final at once.
func (s *xep) signedHead(w http.ResponseWriter, r *http.Request, name string) (bool, error) {
	id := s.putID(r.Context(), name)
	length := int64(-1)
	if sess, err := s.uploads.Get(r.Context(), id); err == nil && !sess.Completed {
		length = sess.Length
	} else if n, ok := s.uploads.PendingLength(id); ok {
		length = n
	}
	if length < 0 {
		return false, nil
	}
	if _, err := s.authorize(r, name, length); err != nil {
		// Answered as for any name without an upload in progress: a request without the
		// upload's signature learns nothing of it.
		return false, nil
	}
	sess, err := s.uploads.Sync(r.Context(), id)
	switch {
	case errors.Is(err, chunking.ErrNotFound):
		// The PUT it cut off had received nothing: start from zero.
		sess = &chunking.Session{Length: length, Expires: time.Now()}
	case err != nil:
		return true, err
	case sess.Completed:
		// Every byte is there (maybe committed just now, after a crash cut the commit
		// short): the file answers, and says so.
		w.Header().Set("Upload-Offset", itoa(sess.Length))
		return false, nil
	}
	h := w.Header()
	h.Set("Upload-Offset", itoa(sess.Offset))
	h.Set("Upload-Length", itoa(sess.Length))
	h.Set("Upload-Expires", httpDate(sess.Deadline()))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	return true, nil
}
