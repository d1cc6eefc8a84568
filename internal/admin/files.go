package admin

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"fileserver/internal/ops"
	"fileserver/internal/storage"
)

// File is a stored file as the API describes it.
type File struct {
	Path        string     `json:"path"`
	Size        int64      `json:"size"`
	ContentType string     `json:"content_type"`
	Uploader    string     `json:"uploader"`
	Created     time.Time  `json:"created"`
	Expires     *time.Time `json:"expires"`
	SHA256      string     `json:"sha256"`
	Downloads   int64      `json:"downloads"`
	URL         string     `json:"url,omitempty"`
}

const (
	defaultLimit = 100
	maxLimit     = 1000
	// maxScan bounds the files a filtered page examines before it answers with what it has.
	maxScan = 20000
)

func (s *Server) file(m storage.Meta, downloads int64) File {
	f := File{Path: m.Name, Size: m.Size, ContentType: m.ContentType, Uploader: m.Uploader, Created: m.Created.UTC(),
		SHA256: m.SHA256, Downloads: downloads}
	if exp := storage.Deadline(m.Created, m.Expires, s.o.TTL); !exp.IsZero() {
		exp = exp.UTC()
		f.Expires = &exp
	}
	if s.o.DownloadURL != nil {
		f.URL = s.o.DownloadURL(m.Name)
	}
	return f
}

// withCounts describes metas with their download counts.
func (s *Server) withCounts(ctx context.Context, metas []storage.Meta) []File {
	names := make([]string, len(metas))
	for i, m := range metas {
		names[i] = m.Name
	}
	counts := map[string]int64{}
	if s.o.Ops.Counts != nil {
		if c, err := s.o.Ops.Counts.Get(ctx, names); err == nil {
			counts = c
		}
	}
	out := make([]File, len(metas))
	for i, m := range metas {
		out[i] = s.file(m, counts[m.Name])
	}
	return out
}

// FilesPage is the answer of GET /api/v1/files.
type FilesPage struct {
	Files      []File `json:"files"`
	NextCursor string `json:"next_cursor"`
}

func (s *Server) listFiles(w http.ResponseWriter, r *http.Request) {
	if s.o.Backend.List == nil {
		apiError(w, http.StatusNotImplemented, "this storage backend cannot list its files")
		return
	}
	q := r.URL.Query()
	limit := defaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			apiError(w, http.StatusBadRequest, "limit must be 1 to "+strconv.Itoa(maxLimit))
			return
		}
		limit = n
	}
	lq := storage.ListQuery{Prefix: q.Get("prefix"), After: q.Get("cursor"), Limit: limit, MaxScan: maxScan}
	if u := q.Get("uploader"); u != "" {
		lq.Match = func(m storage.Meta) bool { return m.Uploader == u }
	}
	page, err := s.o.Backend.List.List(r.Context(), lq)
	if err != nil {
		storageError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, FilesPage{Files: s.withCounts(r.Context(), page.Files), NextCursor: page.Next})
}

// filePath is the file a /api/v1/files/{path} request names, from the decoded URL path (chi's
// wildcard keeps the escapes of a path Go keeps raw, so "a%20b" would name "a%20b", not "a b").
func filePath(r *http.Request) string { return strings.TrimPrefix(r.URL.Path, "/api/v1/files/") }

func (s *Server) getFile(w http.ResponseWriter, r *http.Request) {
	name := filePath(r)
	m, err := s.o.Backend.Store.Stat(r.Context(), name)
	if err != nil {
		storageError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.withCounts(r.Context(), []storage.Meta{m})[0])
}

func (s *Server) deleteFile(w http.ResponseWriter, r *http.Request) {
	name := filePath(r)
	reason := r.URL.Query().Get("reason")
	if _, err := s.remove(r.Context(), name, adminName(r.Context()), clientOf(r), reason); err != nil {
		storageError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// remove deletes a stored file and what is kept of it (its download count), and records it.
func (s *Server) remove(ctx context.Context, name, by, client, reason string) (storage.Meta, error) {
	m, err := s.o.Backend.Store.Stat(ctx, name)
	if err != nil {
		return storage.Meta{}, err
	}
	if err := s.o.Backend.Store.Delete(ctx, name); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return storage.Meta{}, err
	}
	s.o.Ops.Counts.Forget(ctx, []string{name})
	s.o.Ops.Audit.Removed(name, m.Size, by, client, reason)
	s.o.Ops.Events.Publish(ops.Event{Type: "file_removed", Name: name, Size: m.Size})
	return m, nil
}
