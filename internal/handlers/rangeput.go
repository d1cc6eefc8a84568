package handlers

import (
	"crypto/sha256"
	"encoding/hex"
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

// rangeID is the session id of a signed path's resumable PUT. It is derived from the name,
// so a retry finds the upload without being told an id.
func rangeID(name string) string {
	sum := sha256.Sum256([]byte("put\x00" + name))
	return "put-" + hex.EncodeToString(sum[:20])
}

// rangePut stores one Content-Range piece of an upload. Pieces must arrive in order: a piece
// that does not start at the upload's offset gets 409 with the offset to continue from.
func (s *Server) rangePut(w http.ResponseWriter, r *http.Request, name string, cr contentRange, meta storage.Meta) error {
	id := rangeID(name)
	if info := infoFrom(r.Context()); info != nil {
		info.protocol = "range-put"
	}
	if !cr.empty && r.ContentLength >= 0 && r.ContentLength != cr.last-cr.first+1 {
		return errorf(http.StatusBadRequest, "Content-Length does not match Content-Range")
	}
	sess, err := s.uploads.Sync(r.Context(), id)
	switch {
	case errors.Is(err, chunking.ErrNotFound) || errors.Is(err, chunking.ErrExpired) && sess != nil && cr.first == 0:
		if errors.Is(err, chunking.ErrExpired) {
			s.uploads.Terminate(r.Context(), id)
		}
		if cr.empty || cr.first != 0 {
			w.Header().Set("Upload-Offset", "0")
			return errorf(http.StatusConflict, "no upload in progress here: start at byte 0")
		}
		sess, err = s.uploads.Create(r.Context(), chunking.Session{ID: id, Protocol: "range-put", Target: name,
			Length: cr.total, ContentType: meta.ContentType, Uploader: meta.Uploader, FileExpires: meta.Expires})
		if err != nil {
			return err
		}
	case err != nil:
		return err
	case sess.Length != cr.total:
		return errorf(http.StatusConflict, fmt.Sprintf("the upload here is %d bytes long, not %d", sess.Length, cr.total))
	}
	if cr.empty {
		w.Header().Set("Upload-Offset", itoa(sess.Offset))
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	req := s.appendRequest(w, r, cr.first, "range-put")
	req.Meta = meta
	sess, err = s.uploads.Append(r.Context(), id, req)
	if sess != nil {
		w.Header().Set("Upload-Offset", itoa(sess.Offset))
	}
	var oe *chunking.OffsetError
	if errors.As(err, &oe) {
		w.Header().Set("Upload-Offset", itoa(oe.Expected))
		return &Error{Status: http.StatusConflict, Msg: "Content-Range does not start at the upload's offset " + strconv.FormatInt(oe.Expected, 10), Err: err}
	}
	if err != nil && !(sess != nil && s.interrupted(err)) {
		return err
	}
	if sess.Completed {
		w.Header().Set("Location", s.downloadURL(r, name))
		w.WriteHeader(http.StatusCreated)
		return nil
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// signedHead answers HEAD on a signed upload URL while an upload there is unfinished: the
// offset to continue from. The signature covers the upload's total length. A PUT still in
// flight is cut off first (it keeps what it received), so the offset is final at once.
func (s *Server) signedHead(w http.ResponseWriter, r *http.Request, name string) (bool, error) {
	id := rangeID(name)
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
		return true, err
	}
	sess, err := s.uploads.Sync(r.Context(), id)
	switch {
	case errors.Is(err, chunking.ErrNotFound):
		// The PUT it cut off had received nothing: start from zero.
		sess = &chunking.Session{Length: length, Expires: time.Now()}
	case err != nil:
		return true, err
	case sess.Completed:
		return false, nil
	}
	h := w.Header()
	h.Set("Upload-Offset", itoa(sess.Offset))
	h.Set("Upload-Length", itoa(sess.Length))
	h.Set("Upload-Expires", httpDate(sess.Expires))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	return true, nil
}
