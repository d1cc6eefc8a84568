package handlers

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"fileserver/internal/chunking"
	"fileserver/internal/hmacauth"
)

// The IETF "Resumable Uploads for HTTP" draft (draft-ietf-httpbis-resumable-upload), on the
// same sessions as tus. Creation is a POST to the resumable endpoint, or any signed upload PUT,
// carrying the completion field; the upload resource lives at resumable.prefix + id.
//
// Clients name the iteration of the draft they implement in Upload-Draft-Interop-Version.
// Versions 3 to 8 are spoken; they differ on the wire only where the methods of draft say so:
//
//	3  draft -01        completion is Upload-Incomplete (the inverse of the later field)
//	4  draft -02        Upload-Complete replaces Upload-Incomplete
//	5  draft -03        HEAD may answer 200 (this server answers 204 throughout)
//	6  drafts -04, -05  appends must be application/partial-upload; Upload-Limit appears,
//	                    with the resource's lifetime under "expires"; problem types
//	7  drafts -06..-08  "expires" becomes "max-age"; an append that does not complete may
//	                    answer any 2xx, and HEAD and DELETE no longer refuse state fields
//	8  drafts -09 on    Upload-Limit required, 104 described in full (iOS 26)
//
// Through version 6 an append that leaves the completion field out completes the upload (as
// those drafts' examples do), one that does not complete answers 201 Created, and HEAD or
// DELETE carrying Upload-Offset or a completion field is a 400. A request that names no
// version, or one this server does not know, gets the current draft's semantics and, as every
// draft requires, no 104. Every version gets 400 for an inconsistent length or an append to a
// completed upload, with the problem types of drafts -04 on.

// draft is an interop version of the IETF draft.
type draft int

const (
	draftOldest  draft = 3
	draftCurrent draft = 8
)

const (
	ietfPartialType  = "application/partial-upload"
	problemOffset    = "https://iana.org/assignments/http-problem-types#mismatching-upload-offset"
	problemLength    = "https://iana.org/assignments/http-problem-types#inconsistent-upload-length"
	problemCompleted = "https://iana.org/assignments/http-problem-types#completed-upload"
	// statusUploadResumptionSupported is the draft's interim 104 response.
	statusUploadResumptionSupported = 104
)

// isIETF tells an IETF draft request from a tus one: tus clients send none of these headers.
func isIETF(r *http.Request) bool {
	h := r.Header
	return h.Get("Upload-Draft-Interop-Version") != "" || h.Get("Upload-Complete") != "" ||
		h.Get("Upload-Incomplete") != "" || r.Context().Value(ietfUpload{}) != nil
}

// requestDraft is the interop version a request speaks. named is true when the request names
// one this server speaks, the condition for a 104. A request that names none but carries
// only Upload-Incomplete speaks version 3.
func requestDraft(r *http.Request) (d draft, named bool) {
	if n, ok := sfInt(sfField(r, "Upload-Draft-Interop-Version")); ok && n >= int64(draftOldest) && n <= int64(draftCurrent) {
		return draft(n), true
	}
	if r.Header.Get("Upload-Incomplete") != "" && r.Header.Get("Upload-Complete") == "" {
		return draftOldest, false
	}
	return draftCurrent, false
}

// completeField is the header that carries the upload's completion state.
func (d draft) completeField() string {
	if d == draftOldest {
		return "Upload-Incomplete"
	}
	return "Upload-Complete"
}

// setComplete writes the completion state in this version's field.
func (d draft) setComplete(h http.Header, complete bool) {
	if d == draftOldest {
		h.Set("Upload-Incomplete", sfBoolString(!complete))
		return
	}
	h.Set("Upload-Complete", sfBoolString(complete))
}

// complete is whether the request's content ends the upload. Either field is read whatever
// the version, so a client that mixes them is not misread as completing; the two must then
// agree. A field given twice (two lines, or a list) is malformed, never the first line's
// value. Only an append of versions 3 to 6 may leave both out (see absentCompletes).
func (d draft) complete(r *http.Request, appending bool) (bool, error) {
	c, cok := sfBool(sfField(r, "Upload-Complete"))
	inc, iok := sfBool(sfField(r, "Upload-Incomplete"))
	switch {
	case cok && iok && c == inc:
		return false, errorf(http.StatusBadRequest, "Upload-Complete and Upload-Incomplete disagree")
	case cok:
		return c, nil
	case iok:
		return !inc, nil
	case d.absentCompletes() && appending && r.Header.Get("Upload-Incomplete") == "" && r.Header.Get("Upload-Complete") == "":
		return true, nil
	}
	return false, errorf(http.StatusBadRequest, d.completeField()+" must be ?0 or ?1")
}

// absentCompletes reports whether an append without a completion field completes the upload.
// Drafts -01 to -05 (versions 3 to 6) require the field only to say "not the end" ("If the end
// of the request content is not the end of the upload, the field MUST be set to false"), and
// their append example completes without it; from -06 on the field is required.
func (d draft) absentCompletes() bool { return d <= 6 }

// appendStatus answers an append that leaves the upload incomplete: 201 through version 6,
// whose text requires it, 204 after.
func (d draft) appendStatus() int {
	if d <= 6 {
		return http.StatusCreated
	}
	return http.StatusNoContent
}

// needsPartialType reports whether appends must be application/partial-upload (version 6 on).
func (d draft) needsPartialType() bool { return d >= 6 }

// refusesStateFields reports whether HEAD and DELETE must refuse Upload-Offset, the
// completion fields and (draft -05) Upload-Length with 400 (through version 6).
func (d draft) refusesStateFields() bool { return d <= 6 }

// lifetimeKey names the resource's remaining lifetime in Upload-Limit.
func (d draft) lifetimeKey() string {
	if d == 6 {
		return "expires"
	}
	return "max-age"
}

// sfField is a structured field's value as HTTP defines it: all its lines, joined as a list,
// so a field sent twice fails to parse as a single item instead of being read as its first.
func sfField(r *http.Request, name string) string {
	return strings.Join(r.Header.Values(name), ", ")
}

// sfBool parses a Structured Field Boolean (RFC 9651 §3.3.6), ignoring parameters. ok is
// false for an absent or malformed value, which the draft says to ignore.
func sfBool(v string) (b, ok bool) {
	v, _, _ = strings.Cut(strings.TrimSpace(v), ";")
	switch strings.TrimSpace(v) {
	case "?1":
		return true, true
	case "?0":
		return false, true
	}
	return false, false
}

// sfInt parses a non-negative Structured Field Integer (RFC 9651 §3.3.1: at most 15 digits),
// ignoring parameters.
func sfInt(v string) (int64, bool) {
	v, _, _ = strings.Cut(strings.TrimSpace(v), ";")
	v = strings.TrimSpace(v)
	if v == "" || len(v) > 15 {
		return 0, false
	}
	n, present, err := parseOffset("", v)
	return n, present && err == nil
}

// ietfState writes the headers that describe an upload to an IETF client.
func (s *ietf) ietfState(w http.ResponseWriter, r *http.Request, sess *chunking.Session) {
	h := w.Header()
	h.Set("Upload-Offset", itoa(sess.Offset))
	d, _ := requestDraft(r)
	d.setComplete(h, sess.Completed)
	if sess.Length >= 0 {
		h.Set("Upload-Length", itoa(sess.Length))
	}
	h.Set("Upload-Limit", s.uploadLimit(r))
	h.Set("Cache-Control", "no-store")
	if sess.Completed {
		s.completedHeaders(w, r, sess)
	}
}

func sfBoolString(b bool) string {
	if b {
		return "?1"
	}
	return "?0"
}

// ietfCreate is an upload creation at the resumable endpoint: POST with Upload-Complete,
// authorized like tus creation, the file named by Content-Disposition's filename.
func (s *ietf) ietfCreate(w http.ResponseWriter, r *http.Request) error {
	g, err := s.authorizeCreate(r)
	if err != nil {
		return s.ietfError(w, r, nil, err)
	}
	meta := map[string]string{}
	if name := dispositionName(r.Header.Get("Content-Disposition")); name != "" {
		meta["filename"] = name
	}
	sess := s.session(r, g, chunking.NewID(), "ietf")
	sess.Metadata = meta
	if sess.Target, err = s.resumableTarget(r, sess.ID, g, meta); err != nil {
		return s.ietfError(w, r, nil, err)
	}
	declared := r.Header.Get("Content-Type")
	if g.Scheme == hmacauth.SchemeToken {
		declared = g.ContentType
	}
	sess.ContentType = storedType(declared, sess.Target)
	if g.Scheme == hmacauth.SchemeToken && g.Size >= 0 {
		sess.Length = g.Size
	}
	return s.ietfUpload(w, r, sess)
}

// ietfUpload creates the session, announces it with 104 when the client speaks the draft's
// interop version, and appends the request's content.
func (s *ietf) ietfUpload(w http.ResponseWriter, r *http.Request, sess chunking.Session) error {
	d, named := requestDraft(r)
	complete, err := d.complete(r, false)
	if err != nil {
		return s.ietfError(w, r, nil, err)
	}
	if !s.exts.permits(sess.Target) {
		return s.ietfError(w, r, nil, errorf(http.StatusUnsupportedMediaType, "file type not allowed"))
	}
	req := s.appendRequest(w, r, 0, "ietf")
	length, err := ietfLength(r, 0, complete)
	if err != nil {
		return s.ietfError(w, r, nil, err)
	}
	if length >= 0 && sess.Length >= 0 && length != sess.Length {
		return s.ietfError(w, r, nil, chunking.ErrLengthMismatch)
	}
	if length >= 0 {
		sess.Length = length
	}
	created, err := s.uploads.Create(r.Context(), sess)
	if err != nil {
		return s.ietfError(w, r, nil, err)
	}
	location := s.uploadURL(r, created.ID)
	if named {
		h := w.Header()
		h.Set("Location", location)
		h.Set("Upload-Draft-Interop-Version", strconv.Itoa(int(d)))
		h.Set("Upload-Limit", s.uploadLimit(r))
		w.WriteHeader(statusUploadResumptionSupported)
		h.Del("Upload-Limit")
		h.Del("Upload-Draft-Interop-Version")
	}
	req.Complete = complete
	got, err := s.uploads.Append(r.Context(), created.ID, req)
	if got == nil {
		got = created
	}
	if !s.kept(got, err) {
		return s.ietfError(w, r, got, err)
	}
	w.Header().Set("Location", location)
	if got.Completed {
		return s.ietfDone(w, r, got, http.StatusCreated)
	}
	s.ietfState(w, r, got)
	w.WriteHeader(http.StatusCreated)
	return nil
}

// ietfLength is the length a request declares: Upload-Length, or, when it completes the upload
// and a Content-Length, offset + Content-Length. The two must agree. -1 when unknown.
func ietfLength(r *http.Request, offset int64, complete bool) (int64, error) {
	length := int64(-1)
	if v := sfField(r, "Upload-Length"); v != "" {
		if n, ok := sfInt(v); ok {
			length = n
		}
	}
	if complete && r.ContentLength >= 0 {
		implied := offset + r.ContentLength
		if length >= 0 && length != implied {
			return 0, chunking.ErrLengthMismatch
		}
		length = implied
	}
	return length, nil
}

// ietfDone answers for a completed upload: the upload's own resource semantics (the file's
// URL and digest), marked complete.
func (s *ietf) ietfDone(w http.ResponseWriter, r *http.Request, sess *chunking.Session, status int) error {
	s.ietfState(w, r, sess)
	h := w.Header()
	h.Del("Upload-Limit")
	body, _ := json.Marshal(postResult{
		URL: s.downloadURL(r, sess.Target), Name: sess.Target,
		Size: sess.Length, ContentType: sess.ContentType, SHA256: sess.SHA256,
	})
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
	return nil
}

// ietfError adds to a failure what an IETF client reads with it: the completion state on
// every response, the upload's offset, and the draft's status for an append to a completed
// upload. writeError renders it, as problem details where the draft defines a type.
func (s *ietf) ietfError(w http.ResponseWriter, r *http.Request, sess *chunking.Session, err error) error {
	h := w.Header()
	d, _ := requestDraft(r)
	d.setComplete(h, sess != nil && sess.Completed)
	if sess != nil {
		// Drafts -01 to -05: an upload the server holds reports its offset on failures too.
		h.Set("Upload-Offset", itoa(sess.Offset))
	}
	switch {
	case errors.Is(err, chunking.ErrCompleted):
		// Drafts -04 and -05 require 400; the problem type's registration recommends it.
		return &Error{Status: http.StatusBadRequest, Msg: "upload is already completed", Err: err}
	case errors.Is(err, chunking.ErrTooLarge):
		h.Set("Upload-Limit", s.uploadLimit(r))
	}
	return err
}

// problemOf is the RFC 9457 problem type the IETF draft defines for err, with the members it
// carries; "" when the draft defines none.
func problemOf(err error) (typ string, members map[string]any) {
	var oe *chunking.OffsetError
	switch {
	case errors.As(err, &oe):
		return problemOffset, map[string]any{"expected-offset": oe.Expected, "provided-offset": oe.Provided}
	case errors.Is(err, chunking.ErrLengthMismatch):
		return problemLength, nil
	case errors.Is(err, chunking.ErrCompleted):
		return problemCompleted, nil
	}
	return "", nil
}

// refuseStateFields enforces, for the versions that require it, that HEAD and DELETE carry
// neither an offset nor a completion state.
func refuseStateFields(r *http.Request) error {
	if d, _ := requestDraft(r); d.refusesStateFields() {
		for _, f := range []string{"Upload-Offset", "Upload-Complete", "Upload-Incomplete", "Upload-Length"} {
			if r.Header.Get(f) != "" {
				return errorf(http.StatusBadRequest, r.Method+" must not carry "+f)
			}
		}
	}
	return nil
}

func (s *ietf) ietfHead(w http.ResponseWriter, r *http.Request) error {
	if err := refuseStateFields(r); err != nil {
		return s.ietfError(w, r, nil, err)
	}
	id, _, err := s.endpointUpload(r)
	if err != nil {
		return s.ietfError(w, r, nil, err)
	}
	sess, err := s.uploads.Sync(r.Context(), id)
	if err != nil {
		return s.ietfError(w, r, sess, err)
	}
	s.ietfState(w, r, sess)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *ietf) ietfPatch(w http.ResponseWriter, r *http.Request) error {
	id, _, err := s.endpointUpload(r)
	if err != nil {
		return s.ietfError(w, r, nil, err)
	}
	d, _ := requestDraft(r)
	if mt := bareType(r.Header.Get("Content-Type")); d.needsPartialType() && mt != ietfPartialType {
		return s.ietfError(w, r, nil, errorf(http.StatusUnsupportedMediaType, "PATCH needs Content-Type: "+ietfPartialType))
	}
	offset, ok := sfInt(sfField(r, "Upload-Offset"))
	if !ok {
		return s.ietfError(w, r, nil, errorf(http.StatusBadRequest, "Upload-Offset must be a non-negative integer"))
	}
	complete, err := d.complete(r, true)
	if err != nil {
		return s.ietfError(w, r, nil, err)
	}
	req := s.appendRequest(w, r, offset, "ietf")
	if req.Length, err = ietfLength(r, offset, complete); err != nil {
		return s.ietfError(w, r, nil, err)
	}
	req.Complete = complete
	sess, err := s.uploads.Append(r.Context(), id, req)
	if errors.Is(err, chunking.ErrCompleted) && sess != nil && offset == sess.Offset &&
		(r.ContentLength == 0 || r.ContentLength < 0 && chunking.EmptyBody(r.Body) == nil) {
		// The final response was lost and the client asks again: replay it.
		return s.ietfDone(w, r, sess, http.StatusOK)
	}
	if !s.kept(sess, err) {
		return s.ietfError(w, r, sess, err)
	}
	if sess.Completed {
		return s.ietfDone(w, r, sess, http.StatusCreated)
	}
	s.ietfState(w, r, sess)
	w.Header().Del("Upload-Limit")
	w.WriteHeader(d.appendStatus())
	return nil
}

func (s *ietf) ietfDelete(w http.ResponseWriter, r *http.Request) error {
	if err := refuseStateFields(r); err != nil {
		return s.ietfError(w, r, nil, err)
	}
	id, _, err := s.endpointUpload(r)
	if err == nil {
		err = s.uploads.Terminate(r.Context(), id)
	}
	if err != nil {
		return s.ietfError(w, r, nil, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// dispositionName is the filename a Content-Disposition header gives, if any.
func dispositionName(v string) string {
	if v == "" {
		return ""
	}
	_, params, err := mime.ParseMediaType(v)
	if err != nil {
		return ""
	}
	return params["filename"]
}
