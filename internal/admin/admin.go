// Package admin is the operators' listener: a JSON API under /api/v1/ (files, takedowns,
// uploads in progress, uploaders, a live event stream) and the web dashboard at /. It is
// served on admin.listen only, never on the public listener, and every route but the
// dashboard's sign-in asks for an admin token (a bearer token, or the session cookie the
// sign-in gives).
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"

	"fileserver/internal/chunking"
	"fileserver/internal/counters"
	"fileserver/internal/ops"
	"fileserver/internal/storage"
	"fileserver/internal/streaming"
)

// Token is an admin token and the name the audit log records for it.
type Token struct{ Name, Token string }

// Options are what the admin listener serves from.
type Options struct {
	Tokens  []Token
	Backend storage.Backend
	// Uploads are the resumable uploads (nil when they are off).
	Uploads *chunking.Uploads
	Engine  *streaming.Engine
	Ops     *ops.Ops
	Quota   *storage.Quota
	// HTTP are the public listener's request counters (the overview's errors); nil: none.
	HTTP *counters.HTTP
	// TTL is upload.ttl, for when a file expires.
	TTL time.Duration
	// DownloadURL is a file's public link.
	DownloadURL func(name string) string
	// SessionTTL is how long a dashboard sign-in lasts; Secure marks its cookie Secure (TLS).
	SessionTTL time.Duration
	Secure     bool
	// Progress is the period of upload_progress events (default 500 ms).
	Progress time.Duration
	Log      zerolog.Logger
}

// Server is the admin listener's handler.
type Server struct {
	o       Options
	tokens  []tokenHash
	handler http.Handler
	stop    chan struct{}
	done    chan struct{}
	signIns *signIns
}

type tokenHash struct {
	name string
	sum  [32]byte
}

// New builds the admin handler and starts sampling upload progress; Close stops it.
func New(o Options) *Server {
	if o.Progress <= 0 {
		o.Progress = 500 * time.Millisecond
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 12 * time.Hour
	}
	s := &Server{o: o, stop: make(chan struct{}), done: make(chan struct{}), signIns: newSignIns(o.SessionTTL)}
	for _, t := range o.Tokens {
		s.tokens = append(s.tokens, tokenHash{name: t.Name, sum: sha256.Sum256([]byte(t.Token))})
	}
	r := chi.NewRouter()
	r.Use(headers)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) { apiError(w, http.StatusNotFound, "not found") })
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusMethodNotAllowed, "method not allowed")
	})
	r.Route("/api/v1", func(r chi.Router) {
		r.Use(s.requireToken)
		r.Get("/files", s.listFiles)
		r.Get("/files/*", s.getFile)
		r.Delete("/files/*", s.deleteFile)
		r.Get("/takedowns", s.listTakedowns)
		r.Post("/takedowns", s.createTakedown)
		r.Delete("/takedowns/{id}", s.liftTakedown)
		r.Get("/uploads", s.listUploads)
		r.Delete("/uploads/{id}", s.endUpload)
		r.Get("/uploaders", s.listUploaders)
		r.Get("/overview", s.overview)
		r.Get("/events", s.events)
	})
	s.dashboardRoutes(r)
	s.handler = r
	go s.sample()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Close stops the progress sampling.
func (s *Server) Close() {
	close(s.stop)
	<-s.done
}

// sample publishes the uploads' progress every period while someone follows the events (and
// keeps their rates for the API either way).
func (s *Server) sample() {
	defer close(s.done)
	t := time.NewTicker(s.o.Progress)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			if s.o.Engine != nil {
				s.o.Ops.Progress(s.o.Engine.Flights(), now)
			}
		}
	}
}

// headers are every admin response's: nothing cached, nothing framed, nothing sniffed, no
// referrer leaving, scripts and styles from this origin only.
func headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		next.ServeHTTP(w, r)
	})
}

type adminKey struct{}

// adminName is the name of the token the request was authenticated with.
func adminName(ctx context.Context) string {
	n, _ := ctx.Value(adminKey{}).(string)
	return n
}

// match finds the token's name, comparing in constant time against every token.
func (s *Server) match(token string) (string, bool) {
	sum := sha256.Sum256([]byte(token))
	name, found := "", 0
	for _, t := range s.tokens {
		if subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1 {
			name, found = t.name, 1
		}
	}
	return name, found == 1
}

// requireToken lets a request through with a valid bearer token, or a dashboard session
// cookie (with its CSRF token on requests that change state); others get 401, audited.
func (s *Server) requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok, why := s.authenticate(r)
		if !ok {
			s.o.Ops.Audit.SignIn(false, "", clientOf(r), "api", why)
			w.Header().Set("WWW-Authenticate", `Bearer realm="fileserver admin"`)
			apiError(w, http.StatusUnauthorized, "an admin token is required")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), adminKey{}, name)))
	})
}

func (s *Server) authenticate(r *http.Request) (name string, ok bool, why string) {
	if auth := r.Header.Get("Authorization"); auth != "" {
		tok, isBearer := strings.CutPrefix(auth, "Bearer ")
		if !isBearer {
			return "", false, "not a bearer token"
		}
		if name, ok := s.match(strings.TrimSpace(tok)); ok {
			return name, true, ""
		}
		return "", false, "unknown token"
	}
	sess, ok := s.session(r)
	if !ok {
		return "", false, "no credential"
	}
	if changesState(r.Method) && !sess.csrfOK(r.Header.Get("X-CSRF-Token")) {
		return "", false, "missing or wrong CSRF token"
	}
	return sess.name, true, ""
}

func changesState(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// clientOf is the request's peer address (the admin listener takes no forwarding headers).
func clientOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func apiError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// storageError answers a store's failure with its status.
func storageError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrEscapes):
		apiError(w, http.StatusNotFound, "no such file")
	case errors.Is(err, storage.ErrInvalidName):
		apiError(w, http.StatusBadRequest, "invalid file path")
	case errors.Is(err, chunking.ErrNotFound), errors.Is(err, chunking.ErrExpired):
		apiError(w, http.StatusNotFound, "no such upload")
	case errors.Is(err, context.Canceled):
		apiError(w, http.StatusServiceUnavailable, "canceled")
	default:
		apiError(w, http.StatusInternalServerError, "internal error: "+err.Error())
	}
}
