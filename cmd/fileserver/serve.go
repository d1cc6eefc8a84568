package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"fileserver/internal/app"
	"fileserver/internal/chunking"
	"fileserver/internal/chunking/redisstore"
	"fileserver/internal/config"
	"fileserver/internal/counters"
	"fileserver/internal/gcpace"
	"fileserver/internal/handlers"
	"fileserver/internal/hmacauth"
	"fileserver/internal/metrics"
	"fileserver/internal/ops"
	"fileserver/internal/storage"
	"fileserver/internal/streaming"
)

func serve(args []string, stderr io.Writer) int {
	fl := flag.NewFlagSet("serve", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var cf configFlags
	cf.register(fl)
	if err := fl.Parse(args); err != nil {
		return 2
	}
	cfg, err := cf.load()
	if err != nil {
		fmt.Fprintln(stderr, "fileserver:", err)
		return 1
	}
	log, requests, closeLog := newLoggers(cfg.Log, stderr)
	defer closeLog()
	if err := runServer(cfg, log, requests); err != nil {
		log.Error().Err(err).Msg("fileserver stopped")
		return 1
	}
	return 0
}

// newLoggers makes the server's log and the log of its requests. In JSON, with
// log.flush_interval > 0, request events are written in batches (see logWriter); close
// writes what waits.
func newLoggers(c config.Log, out io.Writer) (log, requests zerolog.Logger, close func()) {
	lvl, err := zerolog.ParseLevel(c.Level)
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	mk := func(w io.Writer) zerolog.Logger { return zerolog.New(w).Level(lvl).With().Timestamp().Logger() }
	console := c.Format == "console"
	if c.Format == "auto" {
		if f, ok := out.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			console = true
		}
	}
	if console {
		log = mk(zerolog.ConsoleWriter{Out: out, TimeFormat: time.RFC3339})
		return log, log, func() {}
	}
	if c.FlushInterval <= 0 {
		log = mk(out)
		return log, log, func() {}
	}
	w := newLogWriter(out, c.FlushInterval.D())
	return mk(w), mk(w.Batched()), func() { w.Close() }
}

// runServer wires the components and serves until SIGTERM or SIGINT, then drains.
func runServer(cfg config.Config, log, requests zerolog.Logger) error {
	if err := ensureSecret(&cfg, log); err != nil {
		return err
	}
	defer gcpace.Keep(uint64(cfg.Server.GCHeadroom))()
	engine := streaming.New(app.EngineOptions(cfg.Streaming))
	// shared is Redis when several nodes share sessions: their locks, and the quota book.
	shared, err := openShared(cfg, log)
	if err != nil {
		return err
	}
	if shared != nil {
		defer shared.Close()
	}
	backend, closeStorage, err := openStorage(cfg.Storage, engine, sharedBook(shared))
	if err != nil {
		return err
	}
	defer closeStorage()
	quota := newQuota(cfg, backend, log)
	operator, closeOps, err := openOperator(cfg, backend, shared)
	if err != nil {
		return err
	}
	defer closeOps()
	thumbs, closeThumbs, err := openThumbs(cfg, backend, engine)
	if err != nil {
		return err
	}
	defer closeThumbs()
	if thumbs != nil && cfg.Thumbnails.Keep > 0 {
		defer every(time.Hour, log, "unused thumbnails", thumbs.Sweep)()
	}
	defer every(cfg.Upload.ReapInterval.D(), log, "expired files", reapFiles(backend.Reaper, cfg.Upload.TTL.D(), operator, log))()
	verifier := hmacauth.NewVerifier(hmacauth.Options{
		Secret:           cfg.Auth.Secret,
		PreviousSecrets:  cfg.Auth.PreviousSecrets,
		ClockSkew:        cfg.Auth.ClockSkew.D(),
		MaxTokenLifetime: cfg.Auth.MaxTokenLifetime.D(),
		TypeByName:       handlers.TypeByName,
	})
	uploads, closeUploads, err := openUploads(cfg, backend, shared, engine, quota, operator, log)
	if err != nil {
		return err
	}
	defer closeUploads()
	httpStats := counters.NewHTTP()
	sources := metrics.Sources{Engine: engine, HTTP: httpStats, Uploads: uploads, Scanner: operator.Scanner}
	if backend.Usage != nil {
		sources.Store = backend.Usage // usage and disk space: not known of an object store
	}
	metricsHandler := metrics.Handler(sources)
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	warnGuessedHost(cfg, ln.Addr().String(), log)
	h := handlers.New(handlers.Options{
		Config: app.HandlerConfig(cfg), Storage: backend, Engine: engine, Verifier: verifier, Log: log, RequestLog: &requests, Uploads: uploads,
		Metrics: metricsHandler, Stats: httpStats, Quota: quota, Listen: ln.Addr().String(), Ops: operator, Thumbs: thumbs,
	})
	stopAdmin, err := startAdmin(cfg, adminParts{backend: backend, uploads: uploads, engine: engine, ops: operator, quota: quota, public: h, http: httpStats}, log)
	if err != nil {
		return err
	}
	defer stopAdmin()
	stopMetrics, err := startMetrics(cfg, metricsHandler, log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout.D(),
		IdleTimeout:       cfg.Server.IdleTimeout.D(),
		MaxHeaderBytes:    int(cfg.Server.MaxHeaderBytes),
		ConnContext:       streaming.ConnContext, // lets the engine read each connection's RTT
		ErrorLog:          nil,
	}
	ln = streaming.Listener(ln) // a small cached file's header and body leave in one write
	errc, err := startServing(srv, ln, cfg.Server)
	if err != nil {
		return err
	}
	log.Info().Str("listen", ln.Addr().String()).Bool("tls", cfg.Server.TLSCert != "").Str("storage", backend.Where).
		Str("upload_prefix", cfg.Upload.Prefix).Str("version", version).Msg("serving")

	return runUntilSignal(srv, h, errc, cfg.Server.ShutdownTimeout, log)
}

// sharedBook decides which quota book storage is given: Redis's when several nodes share
// one, else none. It returns a nil interface for a nil store, since an interface holding a
// nil *redisstore.Store is not nil and would pass for a book.
func sharedBook(shared *redisstore.Store) storage.QuotaBook {
	if shared == nil {
		return nil
	}
	return shared
}

// newQuota builds the daily quota limits.daily_quota sets, warning when the backend keeps no
// book for it to be applied with (and when deduplication, asked for, cannot work).
func newQuota(cfg config.Config, backend storage.Backend, log zerolog.Logger) *storage.Quota {
	if cfg.Storage.Dedup && !cfg.Storage.Checksum && backend.Name == "local" {
		log.Warn().Msg("storage.dedup needs storage.checksum: with checksums off, uploads are not deduplicated")
	}
	if backend.Quota == nil && cfg.Limits.DailyQuota > 0 {
		log.Warn().Msg(`limits.daily_quota is not applied with storage.backend = "` + backend.Name + `" unless sessions.store = "redis", which keeps the book`)
	}
	return &storage.Quota{Book: backend.Quota, Limit: int64(cfg.Limits.DailyQuota), HoldFor: cfg.Resumable.SessionTTL.D()}
}

// openUploads decides whether resumable uploads are served: when resumable.enabled, it opens
// their sessions and starts reaping expired ones; otherwise it returns nil. The returned close
// stops the reaper before it closes the sessions, so no pass of it runs on closed ones.
func openUploads(cfg config.Config, backend storage.Backend, shared *redisstore.Store, engine *streaming.Engine,
	quota *storage.Quota, operator *ops.Ops, log zerolog.Logger) (*chunking.Uploads, func(), error) {
	if !cfg.Resumable.Enabled {
		return nil, func() {}, nil
	}
	sessions, locker, closeSessions, err := openSessions(cfg, backend.Root, shared)
	if err != nil {
		return nil, nil, err
	}
	uploads := chunking.New(sessions, backend, chunking.Options{
		TTL: cfg.Resumable.SessionTTL.D(), MaxSize: int64(cfg.Upload.MaxSize),
		SkipDigest:         !cfg.Storage.Checksum,
		Copier:             engine,
		Locker:             locker,
		Quota:              quota,
		CheckpointBytes:    int64(cfg.Resumable.CheckpointBytes),
		CheckpointInterval: cfg.Resumable.CheckpointInterval.D(),
		Admit:              operator.Check,
		Scan:               operator.ScanHook(),
		Committed: func(ctx context.Context, s *chunking.Session, m storage.Meta) error {
			return operator.Committed(ctx, ops.Commit{ID: s.ID, Name: m.Name, Uploader: m.Uploader, SHA256: m.SHA256, Protocol: s.Protocol,
				Size: m.Size, ContentType: m.ContentType, Scan: s.Scanned})
		},
	})
	stopReaper := every(cfg.Resumable.ReapInterval.D(), log, "expired uploads", uploads.Reap)
	return uploads, func() {
		stopReaper()
		closeSessions()
	}, nil
}

// warnGuessedHost decides whether links need a warning: with no server.public_url they name
// the listen address, which only a loopback one makes harmless.
func warnGuessedHost(cfg config.Config, listen string, log zerolog.Logger) {
	if cfg.Server.PublicURL != "" {
		return
	}
	if host, loopback := handlers.LinkHost(listen); !loopback {
		// Links in chat messages live for years: a guessed host is worth a warning.
		log.Warn().Str("links_to", host).Msg("server.public_url is empty: download and upload links name the listen address; set public_url to the https://host clients reach")
	}
}

// startMetrics decides whether metrics get an address of their own (metrics.enabled with a
// metrics.listen), serving them there to the allowed networks only. The returned stop does
// nothing otherwise.
func startMetrics(cfg config.Config, metricsHandler http.Handler, log zerolog.Logger) (stop func(), err error) {
	if !cfg.Metrics.Enabled || cfg.Metrics.Listen == "" {
		return func() {}, nil
	}
	return serveMetrics(cfg.Metrics.Listen, cfg.Metrics.Path, handlers.AllowNetworks(app.Prefixes(cfg.Metrics.AllowedNetworks), metricsHandler), log)
}

// startServing decides whether srv serves TLS (server.tls_cert is set, its certificate
// reloaded as it changes) or plain HTTP on ln, and starts it. The channel carries what Serve
// returned. ln is closed if the certificate cannot be loaded.
func startServing(srv *http.Server, ln net.Listener, c config.Server) (<-chan error, error) {
	tlsOn := c.TLSCert != ""
	if tlsOn {
		certs, err := newCertReloader(c.TLSCert, c.TLSKey)
		if err != nil {
			ln.Close()
			return nil, err
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.get}
	}
	errc := make(chan error, 1)
	go func() {
		if tlsOn {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	return errc, nil
}

// runUntilSignal waits for SIGTERM or SIGINT (or the server failing), then drains: readiness
// goes down, requests get server.shutdown_timeout to end, uploads still streaming after it
// are cut off keeping what arrived, and the download cache's handles are closed. errc
// carries what srv's Serve returned.
func runUntilSignal(srv *http.Server, h *handlers.Server, errc <-chan error, timeout config.Duration, log zerolog.Logger) error {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	select {
	case err := <-errc:
		return err
	case s := <-sig:
		log.Info().Str("signal", s.String()).Str("timeout", timeout.String()).Msg("draining")
	}
	h.Drain()
	ctx, cancel := context.WithTimeout(context.Background(), timeout.D())
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		// Uploads still streaming are cut off: each keeps what it received and answers with
		// the offset to resume from, which takes a sync and a record, not a transfer.
		log.Warn().Err(err).Msg("drain timed out; cutting off uploads in progress (they keep what arrived)")
		h.Interrupt()
		last, cancelLast := context.WithTimeout(context.Background(), interruptTimeout)
		defer cancelLast()
		if err := srv.Shutdown(last); err != nil {
			log.Warn().Err(err).Msg("closing remaining connections")
			srv.Close()
		}
	}
	h.Close()
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info().Msg("stopped")
	return nil
}

// ensureSecret makes sure cfg has a secret, generating one for a single node that has none
// (several nodes must share one, so they refuse to start without it).
func ensureSecret(cfg *config.Config, log zerolog.Logger) error {
	if cfg.Sessions.Store == "redis" && cfg.Auth.Secret == "" {
		if _, err := os.Stat(secretFile(*cfg)); err != nil {
			// Nodes behind one balancer must check one another's signatures.
			return errors.New(`sessions.store = "redis" means several nodes, but no auth.secret is configured: each node would generate its own and refuse URLs signed with another's; set auth.secret (or FILESERVER_AUTH_SECRET_FILE) to the same value on every node`)
		}
	}
	created, err := resolveSecret(cfg, true)
	if err != nil {
		return err
	}
	if created {
		log.Warn().Str("file", secretFile(*cfg)).Msg("no secret configured: generated one; give this file's content to Prosody/ejabberd as the upload secret")
	}
	return nil
}

// openShared connects to Redis when sessions.store says several nodes share sessions; nil
// for a single node.
func openShared(cfg config.Config, log zerolog.Logger) (*redisstore.Store, error) {
	if cfg.Sessions.Store != "redis" {
		return nil, nil
	}
	redis.SetLogger(redisLog{log})
	return redisstore.Open(context.Background(), redisstore.Options{
		URL: cfg.Sessions.RedisURL, Prefix: cfg.Sessions.RedisPrefix, Lease: cfg.Sessions.LockLease.D(),
		StaleAfter: cfg.Resumable.StaleAfter.D(),
	})
}

// reapFiles is one pass of the expired-files reaper; the download counts of what it removed
// are forgotten.
func reapFiles(reaper storage.Reaper, ttl time.Duration, operator *ops.Ops, log zerolog.Logger) func(context.Context) (int, error) {
	return func(ctx context.Context) (int, error) {
		res, err := reaper.Reap(ctx, time.Now(), ttl, false)
		if len(res.Unindexed) > 0 {
			log.Warn().Int("files", len(res.Unindexed)).Strs("first", res.Unindexed[:min(len(res.Unindexed), 10)]).
				Msg("files whose names are too long for the expiry index: the reaper will not see them again; expire them with a bucket lifecycle rule")
		}
		if len(res.Files) > 0 && operator.Counts != nil {
			names := make([]string, len(res.Files))
			for i, f := range res.Files {
				names[i] = f.Name
			}
			operator.Counts.Forget(ctx, names)
		}
		if len(res.Kept) > 0 {
			// Files an earlier version gave their upload URL's expiry as their own lifetime:
			// fixed once, on the first pass after an upgrade.
			log.Info().Int("files", len(res.Kept)).Strs("first", res.Kept[:min(len(res.Kept), 10)]).
				Msg("kept files whose stored expiry was their upload URL's, not theirs; upload.ttl decides their lifetime")
		}
		return len(res.Files), err
	}
}

// interruptTimeout bounds how long uploads cut off at shutdown may take to record what they
// received and answer.
const interruptTimeout = 15 * time.Second

// redisLog sends the Redis client's own messages (reconnects, failed dials) to the log.
type redisLog struct{ log zerolog.Logger }

func (r redisLog) Printf(_ context.Context, format string, v ...any) {
	r.log.Warn().Str("component", "redis").Msg(fmt.Sprintf(format, v...))
}

// openSessions gives the session store and locker [sessions] names: shared, the Redis store
// (several nodes), or files in the data directory and in-process locks (one node).
func openSessions(cfg config.Config, dir *os.Root, shared *redisstore.Store) (chunking.SessionStore, chunking.Locker, func(), error) {
	if shared != nil {
		return shared, shared, func() {}, nil
	}
	root, closeRoot, err := stateRoot(cfg, dir)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("sessions: %w", err)
	}
	ds, err := chunking.NewDirStore(root, cfg.Storage.Fsync)
	if err != nil {
		closeRoot()
		return nil, nil, nil, err
	}
	return ds, chunking.NewMemLocker(cfg.Resumable.StaleAfter.D()), closeRoot, nil
}

// every runs job now and then on a schedule until the returned stop is called, logging what
// it removed. Both reapers (expired files, expired uploads) run this way.
func every(interval time.Duration, log zerolog.Logger, what string, job func(context.Context) (int, error)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if n, err := job(ctx); err != nil && ctx.Err() == nil {
				log.Warn().Err(err).Msg("reaping " + what)
			} else if n > 0 {
				log.Info().Int("removed", n).Msg("reaped " + what)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return cancel
}

// serveMetrics serves the metrics handler alone on its own address.
func serveMetrics(addr, path string, h http.Handler, log zerolog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(path, h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	log.Info().Str("listen", ln.Addr().String()).Msg("serving metrics")
	return func() { srv.Close() }, nil
}
