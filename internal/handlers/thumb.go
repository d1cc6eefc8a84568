package handlers

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"fileserver/internal/storage"
)

// wantsThumb tells, without parsing the query, whether it may ask for a thumbnail.
func wantsThumb(rawQuery string) bool {
	return strings.HasPrefix(rawQuery, "thumb=") || strings.Contains(rawQuery, "&thumb=")
}

// serveThumb answers GET or HEAD /upload/<name>?thumb=SIZE with a JPEG thumbnail of the
// stored image, made once and kept (see internal/thumb).
func (s *files) serveThumb(w http.ResponseWriter, r *http.Request, name string) error {
	if info := infoFrom(r.Context()); info != nil {
		info.protocol = "thumb"
	}
	q, _ := url.ParseQuery(r.URL.RawQuery)
	size, err := strconv.Atoi(q.Get("thumb"))
	if err != nil || !s.thumbs.Offers(size) {
		sizes := make([]string, 0, len(s.thumbs.Sizes()))
		for _, n := range s.thumbs.Sizes() {
			sizes = append(sizes, strconv.Itoa(n))
		}
		return errorf(http.StatusBadRequest, "thumb must be one of "+strings.Join(sizes, ", "))
	}
	meta, err := s.store.Stat(r.Context(), name)
	if err != nil {
		return err
	}
	data, err := s.thumbs.Get(r.Context(), meta, size, func() (io.ReadCloser, error) {
		o, err := s.store.Open(r.Context(), name)
		if err != nil {
			return nil, err
		}
		return readCloser{o.Content(), o}, nil
	})
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "image/jpeg")
	h.Set("ETag", `"t`+strconv.Itoa(size)+"-"+strings.Trim(meta.ETag(), `"`)+`"`)
	h.Set("Cache-Control", "public, max-age=86400")
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", meta.Created, bytes.NewReader(data))
	return nil
}

// readCloser reads from a stored object's content and closes the object.
type readCloser struct {
	io.Reader
	obj storage.Object
}

func (rc readCloser) Close() error { return rc.obj.Close() }
