package handlers

import (
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"

	"fileserver/internal/chunking"
	"fileserver/internal/config"
	"fileserver/internal/counters"
	"fileserver/internal/hmacauth"
	"fileserver/internal/storage"
	"fileserver/internal/streaming"
)

// Options are everything the handlers need, built in main.
type Options struct {
	Config   config.Config
	Store    storage.Store
	Engine   *streaming.Engine
	Verifier *hmacauth.Verifier
	Log      zerolog.Logger
	// Uploads runs resumable uploads; nil turns them off.
	Uploads *chunking.Uploads
	// Metrics, when not nil, is served at Config.Metrics.Path.
	Metrics http.Handler
	// Stats receives the HTTP counters; nil makes new ones (see Server.Stats).
	Stats *counters.HTTP
	// Quota is the book limits.daily_quota is checked against; nil: the store's own, if it
	// keeps one (the local store does).
	Quota storage.QuotaBook
}

// Server holds the HTTP handlers of fileserver.
type Server struct {
	cfg      config.Config
	store    storage.Store
	engine   *streaming.Engine
	verifier *hmacauth.Verifier
	uploads  *chunking.Uploads
	quota    storage.QuotaBook
	log      zerolog.Logger
	exts     extensionPolicy
	stats    *Stats
	draining atomic.Bool
	handler  http.Handler

	// downloads keeps small files and open handles for downloads; nil keeps nothing.
	downloads *downloadCache
}

// New builds the router.
func New(o Options) *Server {
	s := &Server{
		cfg:      o.Config,
		store:    o.Store,
		engine:   o.Engine,
		verifier: o.Verifier,
		uploads:  o.Uploads,
		quota:    o.Quota,
		stats:    &Stats{o.Stats},
		log:      o.Log,
		exts:     newExtensionPolicy(o.Config.Upload.AllowedExtensions, o.Config.Upload.DeniedExtensions),
	}
	if book, ok := o.Store.(storage.QuotaBook); ok && s.quota == nil {
		s.quota = book
	}
	s.downloads = newDownloadCache(o.Config.Download, o.Store)
	if s.stats.HTTP == nil {
		s.stats.HTTP = counters.NewHTTP()
	}
	r := chi.NewRouter()
	resumablePrefix := ""
	if o.Uploads != nil {
		resumablePrefix = o.Config.Resumable.Prefix
	}
	r.Use(securityHeaders(o.Config.Server.HSTSMaxAge.D()), cors(o.Config.CORS, resumablePrefix), s.newLimiter().middleware)
	r.NotFound(handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return errorf(http.StatusNotFound, "not found")
	}).ServeHTTP)
	r.MethodNotAllowed(handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Allow", allowedMethods)
		return errorf(http.StatusMethodNotAllowed, "method not allowed")
	}).ServeHTTP)

	up := strings.TrimSuffix(o.Config.Upload.Prefix, "/") + "/*"
	r.Method(http.MethodPut, up, handlerFunc(s.put))
	r.Method(http.MethodPost, up, handlerFunc(s.post))
	r.Method(http.MethodGet, up, handlerFunc(s.download))
	r.Method(http.MethodHead, up, handlerFunc(s.download))

	if s.uploads != nil {
		s.tusRoutes(r, o.Config.Resumable.Prefix)
	}

	r.Get("/healthz", s.healthz)
	r.Head("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	r.Head("/readyz", s.readyz)
	if o.Metrics != nil && o.Config.Metrics.Enabled && o.Config.Metrics.Listen == "" {
		r.Method(http.MethodGet, o.Config.Metrics.Path, o.Metrics)
	}
	s.handler = logRequests(o.Log, s.stats, newProxies(o.Config.Server.TrustedProxies))(r)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Drain makes /readyz answer 503, so load balancers stop sending new work before shutdown.
func (s *Server) Drain() { s.draining.Store(true) }

// Close closes the file handles the download cache keeps open; one in use by a download
// still running is closed when that download ends. Call it once serving has stopped.
func (s *Server) Close() { s.downloads.close() }
