package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"fileserver/internal/ops"
	"fileserver/internal/storage"
)

// takedownRequest is the body of POST /api/v1/takedowns.
type takedownRequest struct {
	Path   string `json:"path"`
	Prefix string `json:"prefix"`
	Reason string `json:"reason"`
}

const maxReason = 1000

func (s *Server) listTakedowns(w http.ResponseWriter, r *http.Request) {
	list, err := s.o.Ops.Takedowns.List(r.Context())
	if err != nil {
		apiError(w, http.StatusServiceUnavailable, "the takedown list cannot be read: "+err.Error())
		return
	}
	if list == nil {
		list = []ops.Takedown{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"takedowns": list})
}

// createTakedown blocks the name (or prefix) first, so no upload can slip in between, then
// removes what is stored under it and ends the uploads in progress to it.
func (s *Server) createTakedown(w http.ResponseWriter, r *http.Request) {
	var req takedownRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, "the body must be JSON: {\"path\": ...} or {\"prefix\": ...}, and \"reason\"")
		return
	}
	if msg := req.check(); msg != "" {
		apiError(w, http.StatusBadRequest, msg)
		return
	}
	td, err := s.takeDown(r.Context(), req, adminName(r.Context()), clientOf(r))
	if errors.Is(err, errNotRecorded) {
		apiError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	if err != nil {
		apiError(w, http.StatusInternalServerError, "the name is blocked, but removing its files failed: "+err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, td)
}

func (req takedownRequest) check() string {
	switch {
	case (req.Path == "") == (req.Prefix == ""):
		return "give either path or prefix"
	case strings.TrimSpace(req.Reason) == "":
		return "give a reason"
	case len(req.Reason) > maxReason:
		return "the reason is too long"
	case req.Path != "" && storage.ValidName(req.Path) != nil:
		return "invalid file path"
	case req.Prefix != "" && !strings.HasSuffix(req.Prefix, "/"):
		return "a prefix ends with / (it takes down a directory of names: \"3f/a1b2/\", not \"3f/a1\", which would also take \"3f/a1b2c3/...\")"
	case req.Prefix != "" && storage.ValidName(strings.TrimSuffix(req.Prefix, "/")) != nil:
		return "invalid prefix"
	}
	return ""
}

var errNotRecorded = errors.New("the takedown could not be recorded")

// takeDown records a takedown, then removes what it covers. The removal goes on if the
// admin's client goes away: a takedown half done would leave blocked files served.
func (s *Server) takeDown(ctx context.Context, req takedownRequest, by, client string) (ops.Takedown, error) {
	ctx = context.WithoutCancel(ctx)
	td, err := s.o.Ops.Takedowns.Add(ctx, ops.Takedown{Path: req.Path, Prefix: req.Prefix, Reason: req.Reason, By: by})
	if err != nil {
		return td, fmt.Errorf("%w: %w", errNotRecorded, err)
	}
	td.Removed, err = s.removeCovered(ctx, td, by, client)
	if td.Removed > 0 {
		s.o.Ops.Takedowns.Update(ctx, td) // unless it was lifted meanwhile
	}
	s.o.Ops.Audit.Takedown(td.ID, td.Path, td.Prefix, td.Reason, by, client, td.Removed, false)
	return td, err
}

// removeCovered removes the stored files and ends the uploads in progress a takedown covers.
func (s *Server) removeCovered(ctx context.Context, td ops.Takedown, by, client string) (int, error) {
	s.endCoveredUploads(ctx, td, by, client)
	reason := "takedown " + td.ID
	if td.Path != "" {
		switch _, err := s.remove(ctx, td.Path, by, client, reason); {
		case errors.Is(err, storage.ErrNotFound):
			return 0, nil
		case err != nil:
			return 0, err
		}
		return 1, nil
	}
	if s.o.Backend.List == nil {
		return 0, errors.New("this storage backend cannot list its files")
	}
	removed := 0
	q := storage.ListQuery{Prefix: td.Prefix, Limit: maxLimit}
	for {
		page, err := s.o.Backend.List.List(ctx, q)
		if err != nil {
			return removed, err
		}
		for _, m := range page.Files {
			if _, err := s.remove(ctx, m.Name, by, client, reason); err == nil {
				removed++
			}
		}
		if page.Next == "" {
			return removed, nil
		}
		q.After = page.Next
	}
}

func (s *Server) endCoveredUploads(ctx context.Context, td ops.Takedown, by, client string) {
	if s.o.Uploads == nil {
		return
	}
	sessions, err := s.o.Uploads.InProgress(ctx)
	if err != nil {
		return
	}
	for _, sess := range sessions {
		if sess.Target != "" && td.Blocks(sess.Target) && s.o.Uploads.Terminate(ctx, sess.ID) == nil {
			s.o.Ops.Audit.UploadEnded(sess.ID, sess.Target, by, client)
		}
	}
}

func (s *Server) liftTakedown(w http.ResponseWriter, r *http.Request) {
	_, ok, err := s.lift(r.Context(), chi.URLParam(r, "id"), adminName(r.Context()), clientOf(r))
	switch {
	case err != nil:
		apiError(w, http.StatusServiceUnavailable, "the takedown list cannot be changed: "+err.Error())
	case !ok:
		apiError(w, http.StatusNotFound, "no such takedown")
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// lift lifts the takedown id and records it; ok is false when there is none.
func (s *Server) lift(ctx context.Context, id, by, client string) (ops.Takedown, bool, error) {
	td, ok, err := s.o.Ops.Takedowns.Lift(ctx, id)
	if err == nil && ok {
		s.o.Ops.Audit.Takedown(td.ID, td.Path, td.Prefix, td.Reason, by, client, 0, true)
	}
	return td, ok, err
}
