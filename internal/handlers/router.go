package handlers

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"

	"fileserver/internal/chunking"
	"fileserver/internal/counters"
	"fileserver/internal/hmacauth"
	"fileserver/internal/ops"
	"fileserver/internal/storage"
	"fileserver/internal/streaming"
	"fileserver/internal/thumb"
)

// Options are everything the handlers need, built in main.
type Options struct {
	Config Config
	// Storage is the backend files are kept in, with what it offers.
	Storage  storage.Backend
	Engine   *streaming.Engine
	Verifier *hmacauth.Verifier
	Log      zerolog.Logger
	// RequestLog, when not nil, receives the one event per request instead of Log (the
	// command batches its writes).
	RequestLog *zerolog.Logger
	// Uploads runs resumable uploads; nil turns them off.
	Uploads *chunking.Uploads
	// Metrics, when not nil, is served at Config.MetricsPath.
	Metrics http.Handler
	// Stats receives the HTTP counters; nil makes new ones (see Server.Stats).
	Stats *counters.HTTP
	// Quota applies limits.daily_quota to the uploads that are not resumable (POST, and PUT
	// with resumable uploads off); Uploads applies it to the others. nil: no quota.
	Quota *storage.Quota
	// Thumbs serves thumbnails of stored images (?thumb=SIZE); nil: none.
	Thumbs *thumb.Maker
	// Ops hears of commits, downloads and refusals, and checks takedowns; nil: no operator's
	// side (no admin listener).
	Ops *ops.Ops
	// Listen is the address the server listens on (the listener's, so a ":0" port is known),
	// which links are built from when server.public_url is empty; "" means server.listen.
	Listen string
}

// Server holds the HTTP handlers of fileserver: one type per protocol over a shared core.
type Server struct {
	*core
	handler http.Handler
	xep     *xep    // XEP-0363 PUT and POST, Content-Range PUT (put.go, post.go, rangeput.go)
	tus     *tus    // tus 1.0 at the resumable endpoint (tus.go)
	ietf    *ietf   // the IETF resumable-upload draft, on the same endpoint (ietf.go)
	files   *files  // downloads (download.go, redirect.go, filecache.go)
	health  *health // /healthz, /readyz (health.go)
}

// New builds the router.
func New(o Options) *Server {
	c := &core{
		cfg:       o.Config,
		store:     o.Storage.Store,
		backend:   o.Storage,
		engine:    o.Engine,
		verifier:  o.Verifier,
		uploads:   o.Uploads,
		quota:     o.Quota,
		stats:     &Stats{HTTP: o.Stats, ops: o.Ops},
		ops:       o.Ops,
		thumbs:    o.Thumbs,
		log:       o.Log,
		exts:      newExtensionPolicy(o.Config.AllowedExtensions, o.Config.DeniedExtensions),
		publicURL: strings.TrimRight(o.Config.PublicURL, "/"),
	}
	s := &Server{core: c, health: &health{c}, ietf: &ietf{c}}
	s.files = &files{core: c}
	s.xep = &xep{core: c, ietf: s.ietf}
	s.files.xep = s.xep
	s.tus = &tus{core: c, ietf: s.ietf, files: s.files}
	if o.Listen == "" {
		o.Listen = o.Config.Listen
	}
	s.linkHost, _ = LinkHost(o.Listen)
	s.downloads = newDownloadCache(o.Config.Cache, o.Storage.Store, o.Storage.Files)
	if s.stats.HTTP == nil {
		s.stats.HTTP = counters.NewHTTP()
	}
	s.stats.declare()
	r := chi.NewRouter()
	resumablePrefix := ""
	if o.Uploads != nil {
		resumablePrefix = o.Config.ResumablePrefix
	}
	metricsPath := ""
	if o.Metrics != nil {
		metricsPath = o.Config.MetricsPath
	}
	r.Use(securityHeaders(o.Config.HSTSMaxAge), cors(o.Config.CORS, resumablePrefix, metricsPath), s.newLimiter().middleware)
	r.NotFound(handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return errorf(http.StatusNotFound, "not found")
	}).ServeHTTP)
	r.MethodNotAllowed(handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Allow", allowedMethods)
		return errorf(http.StatusMethodNotAllowed, "method not allowed")
	}).ServeHTTP)

	up := strings.TrimSuffix(o.Config.UploadPrefix, "/") + "/*"
	r.Method(http.MethodPut, up, s.upload(s.xep.put))
	r.Method(http.MethodPost, up, s.upload(s.xep.post))
	r.Method(http.MethodGet, up, handlerFunc(s.files.download))
	r.Method(http.MethodHead, up, handlerFunc(s.files.download))

	if s.uploads != nil {
		s.tus.tusRoutes(r, o.Config.ResumablePrefix)
	}

	r.Get("/healthz", s.health.healthz)
	r.Head("/healthz", s.health.healthz)
	r.Get("/readyz", s.health.readyz)
	r.Head("/readyz", s.health.readyz)
	if metricsPath != "" {
		r.Method(http.MethodGet, metricsPath, AllowNetworks(o.Config.MetricsNetworks, o.Metrics))
	}
	requests := o.Log
	if o.RequestLog != nil {
		requests = *o.RequestLog
	}
	s.handler = logRequests(requests, s.stats, proxies(o.Config.TrustedProxies))(r)
	return s
}

// upload is an upload handler whose "too large" answers say what the limit is.
func (s *core) upload(h handlerFunc) handlerFunc {
	if s.cfg.MaxSize <= 0 {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		err := h(w, r)
		if err == nil {
			return nil
		}
		if he := toHTTP(err); he.Status == http.StatusRequestEntityTooLarge && (errors.Is(err, streaming.ErrTooLarge) ||
			errors.Is(err, chunking.ErrTooLarge) || he.Msg == msgTooLarge) {
			return &Error{Status: he.Status, Msg: he.Msg + ": the largest upload is " + s.cfg.MaxSizeText + " (upload.max_size)", Err: err}
		}
		return err
	}
}

// AllowNetworks serves h only to clients whose address (after server.trusted_proxies, when
// the request passed through this package's router) lies in one of networks, and 403 to
// others; with no networks, to everyone.
func AllowNetworks(networks []netip.Prefix, h http.Handler) http.Handler {
	allowed := proxies(networks)
	if len(allowed) == 0 {
		return h
	}
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		a, err := netip.ParseAddr(remoteHost(r))
		if err != nil || !allowed.trusted(a) {
			return errorf(http.StatusForbidden, "not served to this address")
		}
		h.ServeHTTP(w, r)
		return nil
	})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Drain makes /readyz answer 503, so load balancers stop sending new work before shutdown.
func (s *Server) Drain() { s.draining.Store(true) }

// Interrupt cuts off every request still sending an upload, when the server must stop before
// they end: each keeps (syncs and records) what it received and answers with the offset to
// resume from (tus and the IETF draft: their usual answer; a PUT: 503 with Upload-Offset).
func (s *Server) Interrupt() {
	if s.uploads != nil {
		s.uploads.Interrupt()
	}
}

// Close closes the file handles the download cache keeps open; one in use by a download
// still running is closed when that download ends. Call it once serving has stopped.
func (s *Server) Close() { s.downloads.close() }
