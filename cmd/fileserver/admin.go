package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/rs/zerolog"

	"fileserver/internal/admin"
	"fileserver/internal/app"
	"fileserver/internal/audit"
	"fileserver/internal/chunking"
	"fileserver/internal/chunking/redisstore"
	"fileserver/internal/config"
	"fileserver/internal/content"
	"fileserver/internal/counters"
	"fileserver/internal/handlers"
	"fileserver/internal/ops"
	"fileserver/internal/storage"
	"fileserver/internal/streaming"
	"fileserver/internal/thumb"
)

// The files the operator's state is kept in on a single node, in the data directory.
const (
	takedownsFile = "takedowns.json"
	downloadsFile = "downloads.json"
)

// openOps builds the operator's side. Takedowns are always checked, whether the admin
// listener is on or not: a name once taken down stays blocked. Download counts and the event
// stream exist only with the admin listener; the audit log with audit.path. Several nodes
// keep takedowns and counts in Redis, one node in its data directory.
func openOps(cfg config.Config, backend storage.Backend, root *os.Root, shared *redisstore.Store) (*ops.Ops, func(), error) {
	o := &ops.Ops{}
	var takedowns ops.TakedownBook
	var counts ops.CountBook
	if shared != nil {
		takedowns, counts = shared, shared
	} else {
		fb, err := ops.OpenFileBook(root, takedownsFile)
		if err != nil {
			return nil, nil, fmt.Errorf("takedowns: %w", err)
		}
		takedowns = fb
		if cfg.Admin.Listen != "" {
			fc, err := ops.OpenFileCounts(root, downloadsFile)
			if err != nil {
				return nil, nil, fmt.Errorf("download counts: %w", err)
			}
			counts = fc
		}
	}
	o.Takedowns = ops.NewTakedowns(takedowns)
	o.Remove = backend.Store.Delete
	o.Scanner = app.Scanner(cfg.Scan)
	if o.Scanner != nil && !backend.ReadsPartials {
		// A resumable upload's parts cannot be read back before they are joined: it is
		// scanned once committed, and removed if refused.
		o.Checks = append(o.Checks, func(ctx context.Context, c *ops.Commit) error {
			return scanCommitted(ctx, o, backend.Store, c)
		})
	}
	if cfg.Upload.CheckTypes {
		o.Checks = append(o.Checks, func(ctx context.Context, c *ops.Commit) error {
			return content.Stored(ctx, backend.Store, c.Name, c.ContentType)
		})
	}
	if cfg.Admin.Listen != "" {
		o.Events = ops.NewBus()
		o.Counts = ops.NewCounts(counts, cfg.Admin.CountFlush.D())
	}
	if cfg.Audit.Path != "" {
		l, err := audit.Open(cfg.Audit.Path, time.Minute)
		if err != nil {
			return nil, nil, fmt.Errorf("audit.path: %w", err)
		}
		o.Audit = l
	}
	return o, func() {
		o.Counts.Close()
		o.Audit.Close()
	}, nil
}

// scanCommitted scans a committed file that was not scanned before its commit, and removes it
// when the verdict refuses it.
func scanCommitted(ctx context.Context, o *ops.Ops, store storage.Store, c *ops.Commit) error {
	if c.Scan != "" {
		return nil
	}
	return storage.Judge(ctx, store, c.Name, func(r io.Reader) (err error) {
		c.Scan, err = o.ScanStored(ctx, r, c.Size, *c)
		return err
	})
}

// openOperator is openOps in the directory the node keeps its state in.
func openOperator(cfg config.Config, backend storage.Backend, shared *redisstore.Store) (*ops.Ops, func(), error) {
	root, closeRoot, err := stateRoot(cfg, backend.Root)
	if err != nil {
		return nil, nil, fmt.Errorf("state: %w", err)
	}
	o, closeOps, err := openOps(cfg, backend, root, shared)
	if err != nil {
		closeRoot()
		return nil, nil, err
	}
	return o, func() {
		closeOps()
		closeRoot()
	}, nil
}

// stateRoot is the directory a single node keeps its own state in (sessions, takedowns,
// counts): the local store's, or storage.path beside an object store.
func stateRoot(cfg config.Config, dir *os.Root) (*os.Root, func(), error) {
	if dir != nil {
		return dir, func() {}, nil
	}
	if err := os.MkdirAll(cfg.Storage.Path, 0o750); err != nil {
		return nil, nil, err
	}
	r, err := os.OpenRoot(cfg.Storage.Path)
	if err != nil {
		return nil, nil, err
	}
	return r, func() { r.Close() }, nil
}

// adminTokens are admin.tokens with their names (validated with the config).
func adminTokens(cfg config.Config) []admin.Token {
	parsed, _ := cfg.Admin.ParsedTokens()
	out := make([]admin.Token, len(parsed))
	for i, t := range parsed {
		out[i] = admin.Token{Name: t.Name, Token: t.Token}
	}
	return out
}

// adminParts are what the admin listener serves from.
type adminParts struct {
	backend storage.Backend
	uploads *chunking.Uploads
	engine  *streaming.Engine
	ops     *ops.Ops
	quota   *storage.Quota
	public  *handlers.Server
	http    *counters.HTTP
}

// startAdmin decides whether the admin listener runs (admin.listen) and starts it, with TLS
// when the server has a certificate. stop ends its event streams, then the listener.
func startAdmin(cfg config.Config, p adminParts, log zerolog.Logger) (stop func(), err error) {
	if cfg.Admin.Listen == "" {
		return func() {}, nil
	}
	a := admin.New(admin.Options{
		Tokens: adminTokens(cfg), Backend: p.backend, HTTP: p.http, Uploads: p.uploads, Engine: p.engine, Ops: p.ops, Quota: p.quota,
		TTL: cfg.Upload.TTL.D(), DownloadURL: p.public.DownloadURL, SessionTTL: cfg.Admin.SessionTTL.D(),
		Secure: cfg.Server.TLSCert != "", Log: log,
	})
	p.engine.Watch(p.ops)
	ln, err := net.Listen("tcp", cfg.Admin.Listen)
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("admin.listen: %w", err)
	}
	srv := &http.Server{Handler: a, ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout.D(), IdleTimeout: cfg.Server.IdleTimeout.D(),
		MaxHeaderBytes: int(cfg.Server.MaxHeaderBytes)}
	errc, err := startServing(srv, ln, cfg.Server)
	if err != nil {
		a.Close()
		return nil, err
	}
	log.Info().Str("listen", ln.Addr().String()).Bool("tls", cfg.Server.TLSCert != "").Int("tokens", len(cfg.Admin.Tokens)).Msg("admin listener serving")
	return func() {
		a.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
		<-errc
	}, nil
}

// openThumbs decides whether thumbnails are served (thumbnails.enabled) and makes their
// maker, caching in the node's state directory, decoding within the engine's budget (engine
// nil: a command that removes files and makes no thumbnails). A file's thumbnails go when
// the store removes its bytes.
func openThumbs(cfg config.Config, backend storage.Backend, engine *streaming.Engine) (*thumb.Maker, func(), error) {
	if !cfg.Thumbnails.Enabled {
		return nil, func() {}, nil
	}
	root, closeRoot, err := stateRoot(cfg, backend.Root)
	if err != nil {
		return nil, nil, fmt.Errorf("thumbnails: %w", err)
	}
	t := cfg.Thumbnails
	o := thumb.Options{Sizes: t.Sizes, MaxPixels: t.MaxPixels, Timeout: t.Timeout.D(), Cache: root, Concurrency: t.Concurrency, Keep: t.Keep.D()}
	if engine != nil {
		o.Pool = engine.Pool()
	}
	m := thumb.New(o)
	if backend.Files != nil {
		// Whether another name still holds the same bytes (a deduplicated or imported
		// link, a copy) is not asked: its thumbnails are made again if asked for.
		backend.Files.OnDelete(func(r storage.Removed) { m.Forget(r.Meta) })
	}
	return m, closeRoot, nil
}
