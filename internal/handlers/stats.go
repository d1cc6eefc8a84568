package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"fileserver/internal/counters"
	"fileserver/internal/hmacauth"
	"fileserver/internal/storage"
)

// Stats are the HTTP layer's counters (see counters.HTTP); internal/metrics exports them.
type Stats struct{ *counters.HTTP }

// Stats exposes the HTTP counters.
func (s *Server) Stats() *counters.HTTP { return s.stats.HTTP }

// knownMethods are counted under their name; anything else is "OTHER".
var knownMethods = map[string]bool{"GET": true, "HEAD": true, "PUT": true, "POST": true,
	"PATCH": true, "DELETE": true, "OPTIONS": true}

// observe records a finished request.
func (st *Stats) observe(r *http.Request, status int, seconds float64) {
	route := "other"
	if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
		route = rc.RoutePattern()
	}
	method := r.Method
	if !knownMethods[method] {
		method = "OTHER"
	}
	st.Requests.Add(1, route, method, strconv.Itoa(status/100)+"xx")
	st.Durations.With(route, method).Observe(seconds)
}

// authFailed records a refused credential.
func (st *Stats) authFailed(r *http.Request, err error) {
	reason := hmacauth.Reason(err)
	if reason == "" {
		reason = "other"
	}
	st.AuthFailures.Add(1, presentedScheme(r), reason)
}

// presentedScheme names the credential a request carried, the way Verify picks it.
func presentedScheme(r *http.Request) string {
	q := r.URL.Query()
	for _, k := range []string{"v3", "v2", "token", "v"} {
		if q.Has(k) {
			return map[string]string{"v3": "v3", "v2": "v2", "token": "v2", "v": "v1"}[k]
		}
	}
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(r.Header.Get("Authorization"))), "bearer") {
		return "token"
	}
	return "none"
}

// storageFailed records a storage error that is not about the request itself.
func (st *Stats) storageFailed(err error) {
	switch {
	case errors.Is(err, storage.ErrNoSpace):
		st.StorageErrors.Add(1, "no_space")
	case errors.Is(err, storage.ErrIO):
		st.StorageErrors.Add(1, "io")
	}
}
