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
	"github.com/rs/zerolog"

	"fileserver/internal/config"
	"fileserver/internal/handlers"
	"fileserver/internal/hmacauth"
	"fileserver/internal/metrics"
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
	log := newLogger(cfg.Log, stderr)
	if err := runServer(cfg, log); err != nil {
		log.Error().Err(err).Msg("fileserver stopped")
		return 1
	}
	return 0
}

func newLogger(c config.Log, out io.Writer) zerolog.Logger {
	w := out
	console := c.Format == "console"
	if c.Format == "auto" {
		if f, ok := out.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			console = true
		}
	}
	if console {
		w = zerolog.ConsoleWriter{Out: out, TimeFormat: time.RFC3339}
	}
	lvl, err := zerolog.ParseLevel(c.Level)
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
}

// runServer wires the components and serves until SIGTERM or SIGINT, then drains.
func runServer(cfg config.Config, log zerolog.Logger) error {
	created, err := resolveSecret(&cfg, true)
	if err != nil {
		return err
	}
	if created {
		log.Warn().Str("file", secretFile(cfg)).Msg("no secret configured: generated one; give this file's content to Prosody/ejabberd as the upload secret")
	}
	store, err := storage.OpenLocal(cfg.Storage.Path, storage.LocalOptions{Fsync: cfg.Storage.Fsync, Checksum: true})
	if err != nil {
		return err
	}
	defer store.Close()
	engine := streaming.New(streaming.Options{BufferSize: int(cfg.Streaming.BufferSize)})
	verifier := hmacauth.NewVerifier(hmacauth.Options{
		Secret:          cfg.Auth.Secret,
		PreviousSecrets: cfg.Auth.PreviousSecrets,
		ClockSkew:       cfg.Auth.ClockSkew.D(),
		TypeByName:      handlers.TypeByName,
	})
	h := handlers.New(handlers.Options{
		Config: cfg, Store: store, Engine: engine, Verifier: verifier, Log: log,
		Metrics: metrics.Handler(engine),
	})
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout.D(),
		IdleTimeout:       cfg.Server.IdleTimeout.D(),
		MaxHeaderBytes:    int(cfg.Server.MaxHeaderBytes),
		ErrorLog:          nil,
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return err
	}
	tlsOn := cfg.Server.TLSCert != ""
	if tlsOn {
		certs, err := newCertReloader(cfg.Server.TLSCert, cfg.Server.TLSKey)
		if err != nil {
			ln.Close()
			return err
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
	log.Info().Str("listen", ln.Addr().String()).Bool("tls", tlsOn).Str("storage", cfg.Storage.Path).
		Str("upload_prefix", cfg.Upload.Prefix).Str("version", version).Msg("serving")

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	select {
	case err := <-errc:
		return err
	case s := <-sig:
		log.Info().Str("signal", s.String()).Dur("timeout", cfg.Server.ShutdownTimeout.D()).Msg("draining")
	}
	h.Drain()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout.D())
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn().Err(err).Msg("drain timed out; closing remaining connections")
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info().Msg("stopped")
	return nil
}
