package handlers

import (
	"errors"
	"net/http"
	"strings"

	"fileserver/internal/counters"
	"fileserver/internal/hmacauth"
	"fileserver/internal/ops"
	"fileserver/internal/storage"
)

// Stats are the HTTP layer's counters (see counters.HTTP); internal/metrics exports them.
type Stats struct {
	*counters.HTTP
	ops *ops.Ops // the audit log's summary of refused signatures
}

// Stats exposes the HTTP counters.
func (s *Server) Stats() *counters.HTTP { return s.stats.HTTP }

// statusClasses are the status label values, by status / 100.
var statusClasses = [...]string{"0xx", "1xx", "2xx", "3xx", "4xx", "5xx", "6xx", "7xx", "8xx", "9xx"}

// observe records a finished request: route is its chi route pattern ("" when none matched).
func (st *Stats) observe(route, method string, status int, seconds float64) {
	if route == "" {
		route = "other"
	}
	switch method {
	case "GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS":
	default:
		method = "OTHER" // counted under their name; anything else is "OTHER"
	}
	class := status / 100
	if class < 0 || class >= len(statusClasses) {
		class = 0
	}
	st.Requests.Add(1, route, method, statusClasses[class])
	st.Durations.With(route, method).Observe(seconds)
}

// knownFailures are the label values of the failure counters that can occur, by scheme the
// reasons it can fail for: they are exported at 0 from the start, so dashboards and alerts
// see the series before the first failure.
var knownFailures = map[string][]string{
	"none":  {"no_credential"},
	"v1":    {"bad_signature", "length_required", "scheme_not_allowed"},
	"v2":    {"bad_signature", "length_required", "scheme_not_allowed"},
	"v3":    {"bad_signature", "expired"},
	"token": {"token_invalid", "token_expired", "slot_mismatch", "size_mismatch"},
}

// declare creates the series of the failure counters at 0.
func (st *Stats) declare() {
	for scheme, reasons := range knownFailures {
		for _, r := range reasons {
			st.AuthFailures.Add(0, scheme, r)
		}
	}
	st.StorageErrors.Add(0, "no_space")
	st.StorageErrors.Add(0, "io")
}

// authFailed records a refused credential.
func (st *Stats) authFailed(r *http.Request, err error) {
	reason := hmacauth.Reason(err)
	if reason == "" {
		reason = "other"
	}
	st.AuthFailures.Add(1, presentedScheme(r), reason)
	st.ops.Refused(presentedScheme(r) + ":" + reason)
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
