package handlers

import (
	"net/http"

	"fileserver/internal/storage"
)

// presigner is the store's, when downloads are redirected to it (storage.s3.redirect_downloads)
// and it serves files at presigned URLs.
func (s *files) presigner() (storage.Presigner, bool) {
	p := s.backend.Presigner
	return p, p != nil && s.cfg.RedirectDownloads
}

// redirectDownload answers a GET with 307 to a presigned URL at which the object store serves
// the file itself, Range included, with this server's Content-Type and Content-Disposition.
// It reports false, having written nothing, for a request the store would judge by its own
// validators instead of ours (If-Match, If-Unmodified-Since, If-Range), and for a small file
// (download.small_file_max), answered faster here than by a second request: those are served
// here. If-None-Match and If-Modified-Since are answered here, 304 without
// a redirect.
func (s *files) redirectDownload(w http.ResponseWriter, r *http.Request, name string, p storage.Presigner) (bool, error) {
	hd := r.Header
	if len(hd["If-Match"]) > 0 || len(hd["If-Unmodified-Since"]) > 0 || len(hd["If-Range"]) > 0 {
		return false, nil
	}
	meta, err := s.store.Stat(r.Context(), name)
	if err != nil {
		return true, err
	}
	if meta.Size <= s.cfg.Cache.SmallFileMax {
		return false, nil
	}
	if info := infoFrom(r.Context()); info != nil {
		info.protocol = "redirect"
	}
	hdr := newFileHeaders(name, meta, meta.Created, meta.Size)
	if status, exact := hdr.precondition(r); exact && status == http.StatusNotModified {
		hdr.setNotModified(w.Header())
		w.WriteHeader(http.StatusNotModified)
		return true, nil
	}
	u, err := p.PresignGet(r.Context(), name, s.cfg.RedirectExpiry, hdr.contentType[0], hdr.disposition[0])
	if err != nil {
		return true, err
	}
	h := w.Header()
	h.Set("Location", u)
	h.Set("Cache-Control", "no-store") // the URL expires; the file's own validators stay here
	w.WriteHeader(http.StatusTemporaryRedirect)
	return true, nil
}
