package handlers

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"fileserver/internal/hmacauth"
	"fileserver/internal/storage"
	"fileserver/internal/streaming"
)

// authorize checks the request's credential for an upload of name with the given size
// (-1 unknown) and returns what it grants.
func (s *Server) authorize(r *http.Request, name string, size int64) (hmacauth.Grant, error) {
	info := infoFrom(r.Context())
	g, err := s.verifier.Verify(hmacauth.Request{
		Method:         r.Method,
		URLPath:        r.URL.Path,
		FilePath:       name,
		Query:          r.URL.Query(),
		Authorization:  r.Header.Get("Authorization"),
		ContentLength:  size,
		ContentType:    r.Header.Get("Content-Type"),
		HasContentType: len(r.Header.Values("Content-Type")) > 0,
	})
	if info != nil {
		info.protocol = string(g.Scheme)
	}
	return g, err
}

// put is the XEP-0363 upload: PUT to a signed URL, answered 201 (CLIENTS.md R1). Every check
// that can refuse the upload runs before the body is read, so a client that sent
// "Expect: 100-continue" gets the final status instead of 100 (R4).
func (s *Server) put(w http.ResponseWriter, r *http.Request) error {
	name, err := s.fileName(r)
	if err != nil {
		return err
	}
	size := r.ContentLength
	g, err := s.authorize(r, name, size)
	if err != nil {
		return err
	}
	declared := g.ContentType
	if g.Scheme == hmacauth.SchemeV1 || g.Scheme == hmacauth.SchemeV3 {
		declared = r.Header.Get("Content-Type")
	}
	if _, err := s.accept(w, r, name, r.Body, size, g, declared); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

// accept runs the checks shared by every plain upload, streams body into storage and
// commits it, then answers 201. size is the announced length (-1 unknown); g.Size, when
// known, is the length the credential binds.
func (s *Server) accept(w http.ResponseWriter, r *http.Request, name string, body io.Reader, size int64, g hmacauth.Grant, declared string) (storage.Meta, error) {
	limit := int64(s.cfg.Upload.MaxSize)
	if size >= 0 && limit > 0 && size > limit || g.Size >= 0 && limit > 0 && g.Size > limit {
		return storage.Meta{}, errorf(http.StatusRequestEntityTooLarge, "upload too large")
	}
	if g.Size >= 0 && size >= 0 && g.Size != size {
		return storage.Meta{}, errorf(http.StatusRequestEntityTooLarge, "size does not match the upload slot")
	}
	if !s.exts.permits(name) {
		return storage.Meta{}, errorf(http.StatusUnsupportedMediaType, "file type not allowed")
	}
	if _, err := s.store.Stat(r.Context(), name); err == nil {
		return storage.Meta{}, errorf(http.StatusConflict, "file already exists")
	} else if !errors.Is(err, storage.ErrNotFound) {
		return storage.Meta{}, err
	}
	// The exact length the body must have, when anything announced it.
	want := size
	if want < 0 {
		want = g.Size
	}
	// want 0 cannot be the engine's Limit, which reads 0 as "none": the max_size limit stays
	// and the length check below refuses any byte.
	if want > 0 && (limit == 0 || want < limit) {
		limit = want
	}
	wr, err := s.store.Create(r.Context(), name)
	if err != nil {
		return storage.Meta{}, err
	}
	defer wr.Abort()
	rc := http.NewResponseController(w)
	res, err := s.engine.Copy(r.Context(), wr, body, streaming.Transfer{
		Protocol:    protocolLabel(r, g),
		Direction:   streaming.Upload,
		Client:      remoteHost(r),
		Limit:       limit,
		Idle:        s.cfg.Upload.ReadIdleTimeout.D(),
		SetDeadline: rc.SetReadDeadline,
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
		if errors.Is(err, streaming.ErrTooLarge) && want >= 0 && limit == want {
			return storage.Meta{}, &Error{Status: http.StatusRequestEntityTooLarge, Msg: "body longer than the announced size", Err: err}
		}
		return storage.Meta{}, err
	}
	if want >= 0 && res.Bytes > want {
		return storage.Meta{}, errorf(http.StatusRequestEntityTooLarge, "body longer than the announced size")
	}
	if want >= 0 && res.Bytes != want {
		return storage.Meta{}, errorf(http.StatusBadRequest, "body shorter than the announced size")
	}
	meta, err := wr.Commit(r.Context(), storage.Meta{
		ContentType: storedType(declared, name),
		Expires:     g.Expires,
		Uploader:    g.Subject,
	})
	if err != nil {
		return storage.Meta{}, err
	}
	w.Header().Set("Location", s.downloadURL(r, name))
	return meta, nil
}

// protocolLabel names the upload protocol for metrics: the signature scheme for PUT, "post"
// for POST.
func protocolLabel(r *http.Request, g hmacauth.Grant) string {
	if r.Method == http.MethodPost {
		return "post"
	}
	return strings.ToLower(string(g.Scheme))
}
