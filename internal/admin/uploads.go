package admin

import (
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/go-chi/chi/v5"

	"fileserver/internal/chunking"
	"fileserver/internal/streaming"
)

// Upload is an upload in progress as the API describes it.
type Upload struct {
	ID       string `json:"id"`
	Path     string `json:"path"`
	Protocol string `json:"protocol"`
	Offset   int64  `json:"offset"`
	// Length is the upload's total, -1 while unknown.
	Length   int64  `json:"length"`
	Uploader string `json:"uploader,omitempty"`
	// Rate is the bytes per second over the last sample, 0 when no request is sending.
	Rate         float64   `json:"rate"`
	Client       string    `json:"client,omitempty"`
	Started      time.Time `json:"started"`
	LastActivity time.Time `json:"last_activity"`
	// Receiving tells whether a request on this node is sending it now.
	Receiving bool `json:"receiving"`
}

// listUploads lists the resumable uploads not complete nor expired (every node's, from the
// session store), with what this node's transfers tell of them (rate, client), and the plain
// uploads this node is receiving.
func (s *Server) listUploads(w http.ResponseWriter, r *http.Request) {
	out, err := s.uploadsInProgress(r.Context())
	if err != nil {
		apiError(w, http.StatusServiceUnavailable, "the upload sessions cannot be read: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"uploads": out})
}

func (s *Server) uploadsInProgress(ctx context.Context) ([]Upload, error) {
	live := map[string]*streaming.Flight{}
	if s.o.Engine != nil {
		for _, f := range s.o.Engine.Flights() {
			live[f.ID] = f
		}
	}
	out := []Upload{}
	if s.o.Uploads != nil {
		sessions, err := s.o.Uploads.InProgress(ctx)
		if err != nil {
			return nil, err
		}
		for _, sess := range sessions {
			out = append(out, s.upload(sess, live[sess.ID]))
			delete(live, sess.ID)
		}
	}
	for _, f := range live {
		out = append(out, Upload{ID: f.ID, Path: f.Name, Protocol: f.Protocol, Offset: f.Offset + f.Bytes(), Length: f.Length,
			Uploader: f.Uploader, Rate: s.o.Ops.Rate(f.ID), Client: f.Client, Started: f.Started.UTC(),
			LastActivity: f.LastActivity().UTC(), Receiving: true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.After(out[j].Started) })
	return out, nil
}

func (s *Server) upload(sess *chunking.Session, f *streaming.Flight) Upload {
	u := Upload{ID: sess.ID, Path: sess.Target, Protocol: sess.Protocol, Offset: sess.Offset, Length: sess.Length,
		Uploader: sess.Uploader, Started: sess.Created.UTC(), LastActivity: sess.Created.UTC()}
	if f != nil {
		u.Offset = max(u.Offset, f.Offset+f.Bytes())
		u.Rate, u.Client, u.LastActivity, u.Receiving = s.o.Ops.Rate(f.ID), f.Client, f.LastActivity().UTC(), true
	}
	return u
}

func (s *Server) endUpload(w http.ResponseWriter, r *http.Request) {
	if err := s.end(r.Context(), chi.URLParam(r, "id"), adminName(r.Context()), clientOf(r)); err != nil {
		storageError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// end ends the resumable upload id, removing what it received, and records it under the
// name its session says.
func (s *Server) end(ctx context.Context, id, by, client string) error {
	if s.o.Uploads == nil {
		return chunking.ErrNotFound
	}
	sess, err := s.o.Uploads.Get(ctx, id)
	if err != nil && sess == nil {
		return err
	}
	if err := s.o.Uploads.Terminate(ctx, id); err != nil {
		return err
	}
	s.o.Ops.Audit.UploadEnded(id, sess.Target, by, client)
	return nil
}
