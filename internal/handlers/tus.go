package handlers

import (
	"context"
	"errors"
	"net/http"
	"path"
	"strings"

	"github.com/go-chi/chi/v5"

	"fileserver/internal/chunking"
	"fileserver/internal/hmacauth"
	"fileserver/internal/storage"
)

// tus 1.0 (https://tus.io/protocols/resumable-upload): core, creation, creation-with-upload,
// creation-defer-length, termination, expiration, checksum and concatenation, over the one
// session model in internal/chunking. The upload URL (prefix + id) is the capability: only
// creation needs a credential.

const (
	tusVersion    = "1.0.0"
	tusExtensions = "creation,creation-with-upload,creation-defer-length,termination,expiration,checksum"
	tusChunkType  = "application/offset+octet-stream"
)

// statusChecksumMismatch is tus's 460 Checksum Mismatch.
const statusChecksumMismatch = 460

// tusRoutes mounts the tus endpoint under prefix.
func (s *tus) tusRoutes(r chi.Router, prefix string) {
	r.Route(strings.TrimSuffix(prefix, "/"), func(r chi.Router) {
		r.Use(s.tusCommon)
		r.Options("/*", s.tusOptions)
		r.Options("/", s.tusOptions)
		r.Method(http.MethodPost, "/", s.upload(s.tusCreate))
		r.Method(http.MethodHead, "/{id}", handlerFunc(s.tusHead))
		r.Method(http.MethodGet, "/{id}", handlerFunc(s.tusGet))
		r.Method(http.MethodPatch, "/{id}", s.upload(s.tusPatch))
		r.Method(http.MethodDelete, "/{id}", handlerFunc(s.tusDelete))
	})
}

// tusCommon adds Tus-Resumable to every response, honours X-HTTP-Method-Override and
// refuses other protocol versions with 412 (tus core, "Tus-Resumable"). Requests that carry
// IETF draft headers instead are passed on to the IETF handlers.
func (s *tus) tusCommon(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m := r.Header.Get("X-HTTP-Method-Override"); m != "" && r.Method == http.MethodPost {
			r.Method = strings.ToUpper(m)
			// chi routes by the method the outer router saw, not r.Method.
			if rctx := chi.RouteContext(r.Context()); rctx != nil {
				rctx.RouteMethod = r.Method
			}
		}
		if r.Method == http.MethodOptions || isIETF(r) {
			next.ServeHTTP(w, r)
			return
		}
		if r.Header.Get("Tus-Resumable") == "" && (r.Method == http.MethodHead || r.Method == http.MethodDelete) && s.createdByIETF(r) {
			// An IETF client that leaves out Upload-Draft-Interop-Version on a HEAD or
			// DELETE still gets an IETF answer for its own upload, not tus's 412.
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ietfUpload{}, true)))
			return
		}
		w.Header().Set("Tus-Resumable", tusVersion)
		if r.Method != http.MethodGet && r.Header.Get("Tus-Resumable") != tusVersion {
			w.Header().Set("Tus-Version", tusVersion)
			writeError(w, r, errorf(http.StatusPreconditionFailed, "unsupported or missing Tus-Resumable; this server speaks "+tusVersion))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ietfUpload marks a request for an upload the IETF draft created (see tusCommon).
type ietfUpload struct{}

// createdByIETF reports whether the request's upload (the path's last segment) was created
// through the IETF draft.
func (s *tus) createdByIETF(r *http.Request) bool {
	id := strings.TrimPrefix(r.URL.Path, s.cfg.ResumablePrefix)
	if id == "" || strings.Contains(id, "/") {
		return false
	}
	sess, err := s.uploads.Get(r.Context(), id)
	return sess != nil && (err == nil || errors.Is(err, chunking.ErrExpired)) && sess.Protocol == "ietf"
}

func (s *tus) tusOptions(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Tus-Resumable", tusVersion)
	h.Set("Tus-Version", tusVersion)
	exts := tusExtensions
	if s.uploads.Concatenates() {
		exts += ",concatenation"
	}
	h.Set("Tus-Extension", exts)
	h.Set("Tus-Checksum-Algorithm", strings.Join(checksumAlgorithms, ","))
	if max := s.uploads.MaxSize(); max > 0 {
		h.Set("Tus-Max-Size", itoa(max))
	}
	h.Set("Upload-Limit", s.uploadLimit(r))
	w.WriteHeader(http.StatusNoContent)
}

// tusCreate is POST: a new upload, authorized by a v3 URL signed for the endpoint or a bearer
// token (whose slot and filename name the target), optionally with its first bytes.
func (s *tus) tusCreate(w http.ResponseWriter, r *http.Request) error {
	if isIETF(r) {
		return s.ietf.ietfCreate(w, r)
	}
	c, err := s.creation(r)
	if err != nil {
		return err
	}
	g, err := s.authorizeCreate(r)
	if err != nil {
		return err
	}
	if err := boundSize(g, c.length, c.partial || c.final()); err != nil {
		return err
	}
	sess := s.session(r, g, chunking.NewID(), "tus")
	sess.Length, sess.Metadata, sess.RawMetadata, sess.Partial = c.length, c.meta, c.rawMeta, c.partial
	sess.ContentType = storedType(firstNonEmpty(g.ContentType, c.meta["filetype"], c.meta["type"], c.meta["mimetype"]), metaName(c.meta))
	if !c.partial {
		if sess.Target, err = s.resumableTarget(r, sess.ID, g, c.meta); err != nil {
			return err
		}
		if !s.exts.permits(sess.Target) {
			return errorf(http.StatusUnsupportedMediaType, "file type not allowed")
		}
	}
	if c.final() {
		return s.concatenate(w, r, sess, c.parts)
	}
	return s.create(w, r, sess)
}

// creationRequest is what a tus creation asks for.
type creationRequest struct {
	length  int64 // -1: deferred, or a final upload's (the sum of its parts)
	meta    map[string]string
	rawMeta string
	partial bool     // Upload-Concat: partial
	parts   []string // Upload-Concat: final;... : the partial uploads' ids
}

func (c creationRequest) final() bool { return len(c.parts) > 0 }

// creation reads and checks a tus creation's headers: the length or its deferral, the
// metadata, concatenation (where the storage offers it), and a first body that fits.
func (s *tus) creation(r *http.Request) (creationRequest, error) {
	var c creationRequest
	length, hasLength, deferred, err := lengthHeaders(r)
	if err != nil {
		return c, err
	}
	c.rawMeta = r.Header.Get("Upload-Metadata")
	if c.meta, err = parseMetadata(c.rawMeta); err != nil {
		return c, errorf(http.StatusBadRequest, err.Error())
	}
	if c.partial, c.parts, err = s.concatHeader(r); err != nil {
		return c, err
	}
	if err := c.settleLength(length, hasLength, deferred); err != nil {
		return c, err
	}
	if err := s.creationFits(r, c); err != nil {
		return c, err
	}
	return c, nil
}

// lengthHeaders reads a creation's Upload-Length (hasLength: present) and
// Upload-Defer-Length, refusing either when malformed; whether they agree is settleLength's
// decision, which needs to know whether the upload is a final one.
func lengthHeaders(r *http.Request) (length int64, hasLength, deferred bool, err error) {
	length, hasLength, err = parseOffset("Upload-Length", r.Header.Get("Upload-Length"))
	if err != nil {
		return 0, false, false, errorf(http.StatusBadRequest, err.Error())
	}
	switch r.Header.Get("Upload-Defer-Length") {
	case "":
		return length, hasLength, false, nil
	case "1":
		return length, hasLength, true, nil
	}
	return 0, false, false, errorf(http.StatusBadRequest, "Upload-Defer-Length must be 1")
}

// concatHeader decides whether a creation asks for concatenation (Upload-Concat) and may
// have it: only storage that can concatenate offers it. It returns whether the upload is a
// partial one, and the partial uploads a final one is made of.
func (s *tus) concatHeader(r *http.Request) (partial bool, parts []string, err error) {
	v := r.Header.Get("Upload-Concat")
	if v == "" {
		return false, nil, nil
	}
	if !s.uploads.Concatenates() {
		return false, nil, errorf(http.StatusBadRequest, "concatenation is not offered with this storage (see Tus-Extension)")
	}
	if partial, parts, err = parseConcat(v, s.cfg.ResumablePrefix); err != nil {
		return partial, parts, errorf(http.StatusBadRequest, err.Error())
	}
	return partial, parts, nil
}

// settleLength decides the upload's length from its length headers: a final upload carries
// none, since its length is the sum of its parts', and any other carries exactly one of
// Upload-Length and Upload-Defer-Length: 1. c.length is -1 when the length is not known yet.
func (c *creationRequest) settleLength(length int64, hasLength, deferred bool) error {
	switch {
	case c.final() && hasLength:
		return errorf(http.StatusBadRequest, "a final upload must not carry Upload-Length")
	case !c.final() && hasLength == deferred:
		return errorf(http.StatusBadRequest, "send exactly one of Upload-Length and Upload-Defer-Length: 1")
	}
	c.length = -1
	if hasLength {
		c.length = length
	}
	return nil
}

// creationFits decides whether an upload of c.length bytes, and the body its creation
// carries, fit: the length within the uploads' maximum, and a creation-with-upload body no
// longer than the upload.
func (s *tus) creationFits(r *http.Request, c creationRequest) error {
	if max := s.uploads.MaxSize(); max > 0 && c.length > max {
		return errorf(http.StatusRequestEntityTooLarge, msgTooLarge)
	}
	if c.length >= 0 && r.ContentLength > c.length && r.Header.Get("Content-Type") == tusChunkType {
		// creation-with-upload of more bytes than the upload has: refused before an upload
		// exists that the client, told 413, would not know of.
		return errorf(http.StatusRequestEntityTooLarge, "body longer than Upload-Length")
	}
	return nil
}

// concatenate creates sess as the final upload of parts (tus concatenation).
func (s *tus) concatenate(w http.ResponseWriter, r *http.Request, sess chunking.Session, parts []string) error {
	created, err := s.uploads.Concat(r.Context(), sess, parts, storage.Meta{})
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Location", s.uploadURL(r, created.ID))
	h.Set("Upload-Concat", r.Header.Get("Upload-Concat"))
	h.Set("Upload-Offset", itoa(created.Offset))
	w.WriteHeader(http.StatusCreated)
	return nil
}

// create creates sess and appends the request's body, if it carries one
// (creation-with-upload); an upload of length 0 is complete at once.
func (s *tus) create(w http.ResponseWriter, r *http.Request, sess chunking.Session) error {
	created, err := s.uploads.Create(r.Context(), sess)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Location", s.uploadURL(r, created.ID))
	h.Set("Upload-Limit", s.uploadLimit(r))
	if sess.Partial {
		h.Set("Upload-Concat", "partial")
	}
	if r.ContentLength != 0 && r.Header.Get("Content-Type") == tusChunkType {
		// creation-with-upload: as much of the body as arrives is kept.
		created, err = s.uploads.Append(r.Context(), created.ID, s.appendRequest(w, r, 0, "tus"))
		if !s.kept(created, err) {
			return err
		}
	} else if sess.Length == 0 {
		// An empty upload is complete at creation.
		if created, err = s.uploads.Append(r.Context(), created.ID, chunking.AppendRequest{Length: 0}); err != nil {
			return err
		}
	}
	h.Set("Upload-Offset", itoa(created.Offset))
	h.Set("Upload-Expires", httpDate(created.Deadline()))
	w.WriteHeader(http.StatusCreated)
	return nil
}

// boundSize refuses a creation whose length could differ from the size its credential binds
// (a Prosody token's filesize): the length must be that size from the start, so neither a
// deferred length (-1) nor concatenation, whose parts and total are the client's choice.
func boundSize(g hmacauth.Grant, length int64, concat bool) error {
	switch {
	case g.Size < 0:
		return nil
	case concat:
		return errorf(http.StatusBadRequest, "this credential binds the file's size: concatenation is not allowed with it")
	case length < 0:
		return errorf(http.StatusBadRequest, "this credential binds the file's size: send Upload-Length, not Upload-Defer-Length")
	case length != g.Size:
		return errorf(http.StatusRequestEntityTooLarge, "Upload-Length does not match the size the credential names")
	}
	return nil
}

// metaName is the file name a client gave in its metadata, reduced to a base name.
func metaName(meta map[string]string) string {
	n := firstNonEmpty(meta["filename"], meta["name"])
	n = path.Base(strings.ReplaceAll(n, "\\", "/"))
	if n == "." || n == "/" || n == ".." {
		return ""
	}
	return n
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// tusState writes the headers that describe an upload's state.
func (s *tus) tusState(w http.ResponseWriter, r *http.Request, sess *chunking.Session) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if len(sess.Parts) == 0 || sess.Completed {
		h.Set("Upload-Offset", itoa(sess.Offset))
	}
	if sess.Length >= 0 {
		h.Set("Upload-Length", itoa(sess.Length))
	} else {
		h.Set("Upload-Defer-Length", "1")
	}
	if sess.RawMetadata != "" {
		h.Set("Upload-Metadata", sess.RawMetadata)
	}
	if !sess.Completed {
		h.Set("Upload-Expires", httpDate(sess.Deadline()))
	} else {
		s.completedHeaders(w, r, sess)
	}
	switch {
	case sess.Partial:
		h.Set("Upload-Concat", "partial")
	case len(sess.Parts) > 0:
		urls := make([]string, len(sess.Parts))
		for i, p := range sess.Parts {
			urls[i] = s.cfg.ResumablePrefix + p
		}
		h.Set("Upload-Concat", "final;"+strings.Join(urls, " "))
	}
}

// tusHead reports the offset. It first takes the upload over from any request still writing
// to it, so the offset is final and the client can resume at once.
func (s *tus) tusHead(w http.ResponseWriter, r *http.Request) error {
	if isIETF(r) {
		return s.ietf.ietfHead(w, r)
	}
	id, _, err := s.endpointUpload(r)
	if err != nil {
		return err
	}
	sess, err := s.uploads.Sync(r.Context(), id)
	if err != nil {
		return err
	}
	s.tusState(w, r, sess)
	w.WriteHeader(http.StatusOK)
	return nil
}

// tusGet serves a finished upload like any download; an unfinished one is not served.
func (s *tus) tusGet(w http.ResponseWriter, r *http.Request) error {
	_, sess, err := s.endpointUpload(r)
	if err != nil {
		return err
	}
	if !sess.Completed || sess.Target == "" {
		return errorf(http.StatusNotFound, "upload not complete")
	}
	return s.files.serveFile(w, r, sess.Target)
}

// tusPatch appends a PATCH's body to its upload (tus core) and answers with the offset
// reached. Requests carrying IETF draft headers go to the IETF handler.
func (s *tus) tusPatch(w http.ResponseWriter, r *http.Request) error {
	if isIETF(r) {
		return s.ietf.ietfPatch(w, r)
	}
	id, cur, err := s.endpointUpload(r)
	if err != nil {
		return err
	}
	req, err := s.patchRequest(w, r)
	if err != nil {
		return err
	}
	// A final upload takes no data (tus concatenation).
	if len(cur.Parts) > 0 {
		return errorf(http.StatusForbidden, "a final upload takes no PATCH")
	}
	sess, err := s.uploads.Append(r.Context(), id, req)
	return s.patchAnswer(w, r, req.Offset, sess, err)
}

// patchHeaders are a PATCH's optional headers, each read into its append request when the
// request carries it; a malformed one refuses the PATCH with 400. They are read in this
// order, so a request with several faults is told of the first.
var patchHeaders = []struct {
	name string
	read func(req *chunking.AppendRequest, v string) error
}{
	{"Upload-Length", func(req *chunking.AppendRequest, v string) (err error) {
		req.Length, _, err = parseOffset("Upload-Length", v)
		return err
	}},
	{"Upload-Checksum", func(req *chunking.AppendRequest, v string) (err error) {
		req.Checksum, req.ChecksumWant, err = parseChecksum(v)
		return err
	}},
}

// patchRequest decides whether a PATCH's headers make an acceptable append, and builds it:
// the body must be a tus chunk, Upload-Offset must say where it starts, and the optional
// patchHeaders must be well formed.
func (s *tus) patchRequest(w http.ResponseWriter, r *http.Request) (chunking.AppendRequest, error) {
	if ct := r.Header.Get("Content-Type"); ct != tusChunkType {
		return chunking.AppendRequest{}, errorf(http.StatusUnsupportedMediaType, "PATCH needs Content-Type: "+tusChunkType)
	}
	offset, ok, err := parseOffset("Upload-Offset", r.Header.Get("Upload-Offset"))
	if err != nil || !ok {
		return chunking.AppendRequest{}, errorf(http.StatusBadRequest, "Upload-Offset must be a non-negative integer")
	}
	req := s.appendRequest(w, r, offset, "tus")
	for _, h := range patchHeaders {
		if v := r.Header.Get(h.name); v != "" {
			if err := h.read(&req, v); err != nil {
				return req, errorf(http.StatusBadRequest, err.Error())
			}
		}
	}
	return req, nil
}

// patchAnswer decides the answer to a PATCH that started at offset (sess and err from the
// append): 204 with the offset reached when what arrived is kept, also for an empty retry of
// the PATCH that completed the upload, whose answer was lost; otherwise err.
func (s *tus) patchAnswer(w http.ResponseWriter, r *http.Request, offset int64, sess *chunking.Session, err error) error {
	if s.kept(sess, err) {
		w.Header().Set("Upload-Offset", itoa(sess.Offset))
		if sess.Completed {
			s.completedHeaders(w, r, sess)
		} else {
			w.Header().Set("Upload-Expires", httpDate(sess.Deadline()))
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if errors.Is(err, chunking.ErrCompleted) && sess != nil && offset == sess.Offset && r.ContentLength == 0 {
		// A retry of the last PATCH whose answer was lost.
		w.Header().Set("Upload-Offset", itoa(sess.Offset))
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return err
}

func (s *tus) tusDelete(w http.ResponseWriter, r *http.Request) error {
	if isIETF(r) {
		return s.ietf.ietfDelete(w, r)
	}
	id, _, err := s.endpointUpload(r)
	if err != nil {
		return err
	}
	if err := s.uploads.Terminate(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
