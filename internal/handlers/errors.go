package handlers

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"fileserver/internal/adaptivebuf"
	"fileserver/internal/chunking"
	"fileserver/internal/content"
	"fileserver/internal/hmacauth"
	"fileserver/internal/ops"
	"fileserver/internal/scan"
	"fileserver/internal/storage"
	"fileserver/internal/streaming"
	"fileserver/internal/thumb"
)

// Error is a failure with the status and the short message the client sees. The wrapped
// error, if any, is logged and never shown.
type Error struct {
	Status int
	Msg    string
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

func errorf(status int, msg string) *Error { return &Error{Status: status, Msg: msg} }

// msgTooLarge answers an upload larger than upload.max_size; upload handlers add the limit.
const msgTooLarge = "upload too large"

// handlerFunc is a handler that returns its failure instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// ServeHTTP renders a returned error in the one place that maps failures to statuses.
func (h handlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h(w, r); err != nil {
		writeError(w, r, err)
	}
}

// statuses maps the failures the packages name to what a client sees, first match wins.
var statuses = []struct {
	err    error
	status int
	msg    string
}{
	{hmacauth.ErrNoCredential, http.StatusForbidden, "missing signature"},
	{hmacauth.ErrBadSignature, http.StatusForbidden, "invalid signature"},
	{hmacauth.ErrExpired, http.StatusForbidden, "upload URL expired"},
	{hmacauth.ErrLengthRequired, http.StatusLengthRequired, "Content-Length required"},
	{hmacauth.ErrTokenInvalid, http.StatusUnauthorized, "invalid or missing bearer token"},
	{hmacauth.ErrTokenExpired, http.StatusGone, "upload token expired"},
	{hmacauth.ErrSlotMismatch, http.StatusBadRequest, "token does not match this upload slot"},
	{hmacauth.ErrSizeMismatch, http.StatusRequestEntityTooLarge, "size does not match the upload slot"},
	{storage.ErrExists, http.StatusConflict, "file already exists"},
	{storage.ErrNotFound, http.StatusNotFound, "not found"},
	{storage.ErrEscapes, http.StatusNotFound, "not found"},
	{storage.ErrInvalidName, http.StatusBadRequest, "invalid file path"},
	{storage.ErrNoSpace, http.StatusInsufficientStorage, "not enough storage space"},
	{storage.ErrQuota, http.StatusTooManyRequests, "daily upload quota exceeded"},
	{ops.ErrBlocked, http.StatusUnavailableForLegalReasons, "this name is taken down and cannot be uploaded to"},
	{content.ErrTypeMismatch, http.StatusUnsupportedMediaType, "the file's content is not of the type it was declared as"},
	{scan.ErrInfected, http.StatusUnprocessableEntity, "the file contains malware and is refused"},
	{chunking.ErrRefused, http.StatusUnprocessableEntity, "the upload's content is refused"},
	{thumb.ErrNotImage, http.StatusUnsupportedMediaType, "no thumbnail: not a JPEG, PNG, GIF or WebP image"},
	{thumb.ErrTooLarge, http.StatusUnprocessableEntity, "no thumbnail: the image is too large"},
	{thumb.ErrDecode, http.StatusUnprocessableEntity, "no thumbnail: the image cannot be decoded"},
	{thumb.ErrBusy, http.StatusServiceUnavailable, "thumbnails are busy, retry later"},
	{scan.ErrUnavailable, http.StatusServiceUnavailable, "the malware scanner is unavailable; retry later"},
	{streaming.ErrTooLarge, http.StatusRequestEntityTooLarge, msgTooLarge},
	{streaming.ErrBusy, http.StatusServiceUnavailable, "server busy, retry later"},
	{adaptivebuf.ErrBudget, http.StatusServiceUnavailable, "server busy, retry later"},
	{ErrTooSlow, http.StatusRequestTimeout, "upload slower than the minimum rate"},
	{streaming.ErrIdle, http.StatusRequestTimeout, "client sent nothing for too long"},
	{chunking.ErrNotFound, http.StatusNotFound, "no such upload"},
	{chunking.ErrExpired, http.StatusGone, "upload expired"},
	{chunking.ErrCompleted, http.StatusConflict, "upload already complete"},
	{chunking.ErrLengthMismatch, http.StatusBadRequest, "upload length differs from the one declared before"},
	{chunking.ErrTooLarge, http.StatusRequestEntityTooLarge, "upload exceeds its length or the size limit"},
	{chunking.ErrChecksum, statusChecksumMismatch, "checksum mismatch"},
	{chunking.ErrShutdown, http.StatusServiceUnavailable, "the server is restarting: what arrived is kept; resume from Upload-Offset"},
	{chunking.ErrHandedOff, http.StatusConflict, "a newer request took over this upload"},
	{chunking.ErrFenced, http.StatusConflict, "a newer request took over this upload"},
	{chunking.ErrBusy, http.StatusConflict, "another request is still sending this upload; ask its offset with HEAD"},
	{chunking.ErrBadParts, http.StatusBadRequest, "concatenation needs complete partial uploads of this server"},
	{io.ErrUnexpectedEOF, http.StatusBadRequest, "body ended before Content-Length bytes"},
}

// toHTTP maps any error to the status and message a client sees.
func toHTTP(err error) *Error {
	var he *Error
	if errors.As(err, &he) {
		return he
	}
	m := func(status int, msg string) *Error { return &Error{Status: status, Msg: msg, Err: err} }
	for _, e := range statuses {
		if errors.Is(err, e.err) {
			return m(e.status, e.msg)
		}
	}
	var oe *chunking.OffsetError
	if errors.As(err, &oe) {
		return m(http.StatusConflict, "Upload-Offset does not match the upload's offset")
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return m(http.StatusRequestEntityTooLarge, msgTooLarge)
	}
	return m(http.StatusInternalServerError, "internal error")
}

// writeError answers with a short text/plain body (never HTML, never a filesystem path) and
// records the cause for the request's log event.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	he := toHTTP(err)
	if info := infoFrom(r.Context()); info != nil {
		info.err = err
		if info.stats != nil {
			info.stats.storageFailed(err)
		}
	}
	h := w.Header()
	switch he.Status {
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="fileserver"`)
	case http.StatusServiceUnavailable:
		setRetryAfter(w, streaming.RetryAfter)
	}
	if errors.Is(err, storage.ErrQuota) {
		// The quota counts per UTC day: try again when the next one starts.
		setRetryAfter(w, storage.RetryAfter(time.Now()))
	}
	var oe *chunking.OffsetError
	if errors.As(err, &oe) {
		h.Set("Upload-Offset", strconv.FormatInt(oe.Expected, 10)) // where to resume
	}
	if r.ContentLength != 0 {
		// The body may be unread. Closing after the reply, instead of letting net/http drain
		// it, answers at once and never waits on a client that stalls (docs/clients.md, "Framing").
		h.Set("Connection", "close")
	}
	h.Del("Content-Disposition")
	h.Del("Etag")
	h.Del("Last-Modified")
	body, ctype := he.Msg+"\n", "text/plain; charset=utf-8"
	if typ, members := problemOf(err); typ != "" && isIETF(r) {
		// The IETF draft's clients read RFC 9457 problem details for the failures it types.
		doc := map[string]any{"type": typ, "title": he.Msg}
		for k, v := range members {
			doc[k] = v
		}
		b, _ := json.Marshal(doc)
		body, ctype = string(b), "application/problem+json"
	}
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(he.Status)
	if r.Method != http.MethodHead {
		io.WriteString(w, body)
	}
}
