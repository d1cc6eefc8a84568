package handlers

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"fileserver/internal/chunking"
	"fileserver/internal/hmacauth"
	"fileserver/internal/storage"
	"fileserver/internal/streaming"
)

// What the resumable protocols (tus, the IETF draft, Content-Range PUT) share: moving a
// request's body into a session through the engine, and cutting that request off when a
// newer one takes the session over.

// appendRequest builds the chunking request that brings r's body into an upload. When a
// newer request for the same upload (or the shutdown) cuts it off, the connection's read
// deadline expires, so a body read blocked on a silent client returns at once.
func (s *core) appendRequest(w http.ResponseWriter, r *http.Request, offset int64, protocol string) chunking.AppendRequest {
	rc := http.NewResponseController(w)
	body := &lastRead{r: r.Body}
	body.last.Store(time.Now().UnixNano())
	req := chunking.AppendRequest{
		Offset: offset,
		Length: -1,
		Body:   body,
		Transfer: streaming.Transfer{
			Protocol:    protocol,
			Client:      remoteHost(r),
			Idle:        s.cfg.ReadIdleTimeout,
			SetDeadline: rc.SetReadDeadline,
		},
		Cancel: func(error) { rc.SetReadDeadline(time.Now()) },
		Idle:   body.idle,
	}
	if info := infoFrom(r.Context()); info != nil {
		info.protocol = protocol
		req.Copied = func(res streaming.Result) {
			info.bytesIn += res.Bytes
			info.bufferSize = res.BufferSize
		}
	}
	return req
}

// lastRead notes when a request body last delivered bytes: a request that has received
// nothing for a while is stale, and another request for its upload may cut it off.
type lastRead struct {
	r    io.Reader
	last atomic.Int64 // unix nanoseconds
}

func (l *lastRead) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if n > 0 {
		l.last.Store(time.Now().UnixNano())
	}
	return n, err
}

func (l *lastRead) idle() time.Duration { return time.Since(time.Unix(0, l.last.Load())) }

// chunkSize is the append size recommended to this client. On object storage it is a whole
// number of parts: an append that ends inside a part leaves a tail that is written out as an
// object of its own and read back by the next append.
func (s *core) chunkSize(r *http.Request) int64 {
	n := s.engine.ChunkSize(remoteHost(r))
	if part := s.backend.PartSize; part > 0 {
		n = max(1, (n+part-1)/part) * part
	}
	return n
}

// httpDate renders t for Upload-Expires and similar headers.
func httpDate(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func (s *core) uploadURL(r *http.Request, id string) string {
	return s.baseURL(r) + s.cfg.ResumablePrefix + id
}

// session is the start of the session of an upload under grant g: its id and protocol, who
// uploads it, how long the file lives, and, for an upload created at the resumable endpoint,
// until when it may be resumed (the creating URL's expiry). Its length is not known yet.
func (s *core) session(r *http.Request, g hmacauth.Grant, id, protocol string) chunking.Session {
	sess := chunking.Session{ID: id, Protocol: protocol, Length: -1, Uploader: s.uploaderKey(r, g), FileExpires: g.FileExpires}
	if protocol == "tus" || protocol == "ietf" {
		sess.ResumeBy = s.resumeBy(g)
	}
	return sess
}

// kept reports whether an append to sess answers as a success: it stored all it was sent,
// or its body ended early and what arrived is kept (see interrupted).
func (s *core) kept(sess *chunking.Session, err error) bool {
	return sess != nil && (err == nil || s.interrupted(err))
}

// interrupted reports whether an append error only means the body ended early: the bytes
// that arrived are kept, so the request still succeeds with the offset reached.
func (s *core) interrupted(err error) bool {
	var te interface{ Timeout() bool }
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, streaming.ErrIdle) || errors.Is(err, ErrTooSlow) ||
		errors.Is(err, chunking.ErrHandedOff) || errors.Is(err, chunking.ErrShutdown) || errors.As(err, &te) && te.Timeout()
}

// authorizeCreate checks the credential for creating a resumable upload: a v3 URL signed for
// the request's path and method, or a bearer token (its slot need not be in the path).
func (s *core) authorizeCreate(r *http.Request) (hmacauth.Grant, error) {
	g, err := s.verifier.Verify(hmacauth.Request{
		Method: r.Method, URLPath: r.URL.Path, Query: r.URL.Query(),
		Authorization: r.Header.Get("Authorization"), ContentLength: -1, AnySlot: true,
	})
	if err != nil && !errors.Is(err, hmacauth.ErrLengthRequired) {
		s.stats.authFailed(r, err)
		return g, err
	}
	// v1 and v2 (which ask for a Content-Length) bind a file path, which creation has not.
	if err != nil || g.Scheme != hmacauth.SchemeV3 && g.Scheme != hmacauth.SchemeToken {
		s.stats.AuthFailures.Add(1, presentedScheme(r), "scheme_not_allowed")
		return g, errorf(http.StatusForbidden, "creating a resumable upload needs a v3 signed URL or a bearer token")
	}
	return g, nil
}

// resumeBy is until when an upload the grant created may be resumed: a v3 URL's expiry
// (with the tolerated clock skew) bounds when the upload may start and resume; other
// credentials leave it to resumable.session_ttl.
func (s *core) resumeBy(g hmacauth.Grant) time.Time {
	if g.URLExpires.IsZero() {
		return time.Time{}
	}
	return g.URLExpires.Add(s.cfg.ClockSkew)
}

// resumableTarget is where a finished upload is committed: the token's slot and filename, or
// the upload id and the client's file name, so that it is also served under the upload prefix.
func (s *core) resumableTarget(r *http.Request, id string, g hmacauth.Grant, meta map[string]string) (string, error) {
	var name string
	if g.Scheme == hmacauth.SchemeToken && g.Slot != "" && g.Filename != "" {
		name = g.Slot + "/" + g.Filename
	} else {
		name = id
		if base := metaName(meta); base != "" {
			name = id + "/" + base
		}
	}
	if storage.ValidName(name) != nil {
		return "", errorf(http.StatusBadRequest, "invalid file name")
	}
	if err := s.ops.Check(r.Context(), name); err != nil {
		return "", err
	}
	return name, nil
}

// endpointUpload is the id of the upload the request's path names, once it is known to be
// one the resumable endpoint serves: one that tus or the IETF draft created, whose id its
// creator was given. Nothing touches the upload (no request is cut off) before that: a
// missing id, or the session of a PUT (which belongs to the holder of that name's signed URL
// and is reached only there), is ErrNotFound. An expired upload passes, for the handlers to
// report as such.
func (s *core) endpointUpload(r *http.Request) (string, *chunking.Session, error) {
	id := chi.URLParam(r, "id")
	sess, err := s.uploads.Get(r.Context(), id)
	switch {
	case sess == nil:
		return id, nil, err
	case sess.Protocol != "tus" && sess.Protocol != "ietf":
		return id, nil, chunking.ErrNotFound
	}
	return id, sess, nil
}

// uploadLimit renders the IETF Upload-Limit dictionary: the size cap and the append size the
// engine recommends for this client.
func (s *core) uploadLimit(r *http.Request) string {
	d, _ := requestDraft(r)
	v := "max-append-size=" + strconv.FormatInt(s.chunkSize(r), 10) +
		", " + d.lifetimeKey() + "=" + strconv.FormatInt(int64(s.cfg.SessionTTL.Seconds()), 10)
	if max := s.uploads.MaxSize(); max > 0 {
		v = "max-size=" + itoa(max) + ", " + v
	}
	return v
}

// completedHeaders tell a client where its finished upload is served and what it holds.
func (s *core) completedHeaders(w http.ResponseWriter, r *http.Request, sess *chunking.Session) {
	if sess.Target != "" {
		w.Header().Set("Content-Location", s.downloadURL(r, sess.Target))
	}
	if d := reprDigest(sess.SHA256); d != "" {
		w.Header().Set("Repr-Digest", d)
	}
}
