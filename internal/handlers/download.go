package handlers

import (
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"path"

	"fileserver/internal/streaming"
)

// download answers GET and HEAD on an upload URL. The URL itself is the capability: no
// signature is needed. Ranges, If-Range and conditional requests follow http.ServeContent
// (RFC 9110 §13, §14); HEAD answers 200 with the same headers as GET (CLIENTS.md R8).
func (s *Server) download(w http.ResponseWriter, r *http.Request) error {
	name, err := s.fileName(r)
	if err != nil {
		return err
	}
	if r.Method == http.MethodHead && r.URL.RawQuery != "" && s.uploads != nil {
		if done, err := s.signedHead(w, r, name); done || err != nil {
			return err
		}
	}
	return s.serveFile(w, r, name)
}

// serveFile sends a stored file with http.ServeContent semantics through the engine.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, name string) error {
	obj, err := s.store.Open(r.Context(), name)
	if err != nil {
		return err
	}
	defer obj.Close()
	meta := obj.Meta()
	ctype := meta.ContentType
	if ctype == "" {
		ctype = storedType("", name)
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", contentDisposition(inlineType(ctype), path.Base(name)))
	// The canonical key is "Etag": ServeContent's precondition checks read it under that key.
	h.Set("Etag", meta.ETag())
	if d := reprDigest(meta.SHA256); d != "" {
		h.Set("Repr-Digest", d)
	}
	h.Set("Cache-Control", "public, max-age=0, must-revalidate")
	rc := http.NewResponseController(w)
	s.engine.ServeContent(w, r, "", obj.ModTime(), obj.Content(), streaming.Transfer{
		Protocol:    "get",
		Direction:   streaming.Download,
		Client:      remoteHost(r),
		Idle:        s.cfg.Download.WriteIdleTimeout.D(),
		SetDeadline: rc.SetWriteDeadline,
	})
	if info := infoFrom(r.Context()); info != nil && info.protocol == "" {
		info.protocol = "get"
	}
	return nil
}

// reprDigest renders a hex SHA-256 as an RFC 9530 Repr-Digest value, so clients can verify
// what they uploaded or downloaded; "" when the digest is unknown.
func reprDigest(sha256hex string) string {
	b, err := hex.DecodeString(sha256hex)
	if err != nil || len(b) != 32 {
		return ""
	}
	return "sha-256=:" + base64.StdEncoding.EncodeToString(b) + ":"
}
