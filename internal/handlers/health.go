package handlers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"fileserver/internal/storage"
)

// healthz says the process is alive.
func (s *health) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if r.Method != http.MethodHead {
		io.WriteString(w, "ok\n")
	}
}

// readyz says whether this instance should get traffic: not while draining, and only when
// storage answers.
func (s *health) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	status, msg := http.StatusOK, "ready\n"
	if s.draining.Load() {
		status, msg = http.StatusServiceUnavailable, "draining\n"
	} else {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		// A name that is valid but never uploaded: NotFound means storage answered.
		if _, err := s.store.Stat(ctx, ".readyz-probe"); err != nil && !errors.Is(err, storage.ErrNotFound) {
			status, msg = http.StatusServiceUnavailable, "storage unavailable\n"
		}
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		io.WriteString(w, msg)
	}
}
