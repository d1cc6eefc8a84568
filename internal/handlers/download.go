package handlers

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"fileserver/internal/storage"
	"fileserver/internal/streaming"
)

// download answers GET and HEAD on an upload URL. The URL itself is the capability: no
// signature is needed. Ranges, If-Range and conditional requests follow http.ServeContent
// (RFC 9110 §13, §14); HEAD answers 200 with the same headers as GET (docs/clients.md,
// "HEAD").
func (s *files) download(w http.ResponseWriter, r *http.Request) error {
	name, err := s.fileName(r)
	if err != nil {
		return err
	}
	if s.thumbs != nil && wantsThumb(r.URL.RawQuery) {
		return s.serveThumb(w, r, name)
	}
	if r.Method == http.MethodHead && r.URL.RawQuery != "" && s.uploads != nil {
		if done, err := s.xep.signedHead(w, r, name); done || err != nil {
			return err
		}
	}
	return s.serveFile(w, r, name)
}

// serveFile sends a stored file with http.ServeContent semantics through the engine. Small
// files come from memory (see downloadCache): a plain GET or HEAD, or one whose conditional
// headers can be answered exactly, with precomputed headers and header and body in one write;
// any other request for them (Range, If-Match...) through ServeContent on the cached bytes.
// Other files go through ServeContent on a kept or newly opened handle, by sendfile.
func (s *files) serveFile(w http.ResponseWriter, r *http.Request, name string) error {
	if info := infoFrom(r.Context()); info != nil {
		if info.protocol == "" {
			info.protocol = "get"
		}
		if s.ops != nil && r.Method == http.MethodGet && fromStart(r.Header.Get("Range")) {
			info.download = name
		}
	}
	if f := s.downloads.lookup(r.Context(), name); f != nil {
		s.serveSmall(w, r, f)
		return nil
	}
	return s.serveStored(w, r, name)
}

// serveStored is serveFile for a file that is not in the small-file cache (yet): opened (or
// a kept handle), read into the cache when it fits, else sent by ServeContent.
func (s *files) serveStored(w http.ResponseWriter, r *http.Request, name string) error {
	if p, ok := s.presigner(); ok && r.Method == http.MethodGet {
		if done, err := s.redirectDownload(w, r, name, p); done {
			return err
		}
	}
	of, err := s.downloads.open(r.Context(), s.store, name)
	if errors.Is(err, storage.ErrEscapes) {
		// Not the client's doing and not a server fault (which would page someone): a link
		// planted in the storage tree. Answered 404, and the operator is told where.
		s.log.Warn().Str("path", name).Msg("a symbolic link in the storage tree leads outside it; not served")
	}
	if err != nil {
		return err
	}
	meta := of.obj.Meta()
	hdr := newFileHeaders(name, meta, of.obj.ModTime(), meta.Size)
	if s.downloads.fits(meta.Size) {
		if f := s.downloads.fill(of, hdr); f != nil {
			of.obj.Close()
			s.serveSmall(w, r, f)
			return nil
		}
	}
	defer s.downloads.done(of)
	hdr.set(w.Header())
	s.engine.ServeContent(w, r, "", of.obj.ModTime(), of.obj.Content(), s.downloadTransfer(w, r))
	return nil
}

// serveSmall answers from a cached small file with the headers the uncached path would send.
func (s *files) serveSmall(w http.ResponseWriter, r *http.Request, f *smallFile) {
	h := w.Header()
	status, exact := f.hdr.precondition(r)
	switch {
	case !exact:
		f.hdr.set(h)
		s.serveSmallContent(w, r, f)
		return
	case status == http.StatusNotModified:
		f.hdr.setNotModified(h)
	default:
		f.hdr.set(h)
		h["Accept-Ranges"] = acceptRangesValue
		h["Content-Length"] = f.hdr.length
	}
	s.engine.ServeBytes(w, r, status, f.body, s.downloadTransfer(w, r))
}

// serveSmallContent answers what serveSmall cannot answer exactly (Range, If-Match...)
// through ServeContent on the cached bytes.
func (s *files) serveSmallContent(w http.ResponseWriter, r *http.Request, f *smallFile) {
	s.engine.ServeContent(w, r, "", f.hdr.modtime, bytes.NewReader(f.body), s.downloadTransfer(w, r))
}

func (s *files) downloadTransfer(w http.ResponseWriter, r *http.Request) streaming.Transfer {
	// logRequests' writer has the method itself: one closure, no controller to make first.
	d, ok := w.(writeDeadliner)
	if !ok {
		d = http.NewResponseController(w)
	}
	return streaming.Transfer{
		Protocol:    "get",
		Direction:   streaming.Download,
		Client:      remoteHost(r),
		Idle:        s.cfg.WriteIdleTimeout,
		SetDeadline: d.SetWriteDeadline,
	}
}

type writeDeadliner interface{ SetWriteDeadline(time.Time) error }

// reprDigest renders a hex SHA-256 as an RFC 9530 Repr-Digest value, so clients can verify
// what they uploaded or downloaded; "" when the digest is unknown.
func reprDigest(sha256hex string) string {
	b, err := hex.DecodeString(sha256hex)
	if err != nil || len(b) != 32 {
		return ""
	}
	return "sha-256=:" + base64.StdEncoding.EncodeToString(b) + ":"
}

// fromStart tells whether a GET with this Range header (maybe none) reads a whole file from
// its first byte: what counts as a download, while a player's probes ("bytes=0-1"), seeks and
// a resumed download's later ranges do not count again.
func fromStart(rangeHeader string) bool {
	return rangeHeader == "" || rangeHeader == "bytes=0-"
}
