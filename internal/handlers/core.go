package handlers

import (
	"net/http"
	"sync/atomic"

	"github.com/rs/zerolog"

	"fileserver/internal/chunking"
	"fileserver/internal/hmacauth"
	"fileserver/internal/ops"
	"fileserver/internal/storage"
	"fileserver/internal/streaming"
	"fileserver/internal/thumb"
)

// core is what every protocol shares: the configuration, authorization, the upload session
// service, the engine, the store, links, and the downloads cache. The protocols are types
// over it (xep, tus, ietf, files, health); what one protocol asks of another goes through
// the fields those types name.
type core struct {
	cfg      Config
	store    storage.Store
	backend  storage.Backend
	engine   *streaming.Engine
	verifier *hmacauth.Verifier
	uploads  *chunking.Uploads
	quota    *storage.Quota
	ops      *ops.Ops
	thumbs   *thumb.Maker
	log      zerolog.Logger
	exts     extensionPolicy
	stats    *Stats
	draining atomic.Bool
	// publicURL (server.public_url without a trailing slash) or, when it is empty, linkHost
	// (see LinkHost) is what links start with.
	publicURL, linkHost string

	// downloads keeps small files and open handles for downloads; nil keeps nothing.
	downloads *downloadCache
}

// authorize checks the request's credential for an upload of name with the given size
// (-1 unknown) and returns what it grants.
func (s *core) authorize(r *http.Request, name string, size int64) (hmacauth.Grant, error) {
	info := infoFrom(r.Context())
	g, err := s.verifier.Verify(hmacauth.Request{
		Method:         r.Method,
		URLPath:        r.URL.Path,
		FilePath:       name,
		Query:          r.URL.Query(),
		Authorization:  r.Header.Get("Authorization"),
		ContentLength:  size,
		ContentType:    r.Header.Get("Content-Type"),
		HasContentType: len(r.Header.Values("Content-Type")) > 0,
	})
	if info != nil {
		info.protocol = string(g.Scheme)
	}
	if err != nil {
		s.stats.authFailed(r, err)
	}
	return g, err
}

// xep is the XEP-0363 upload: PUT and POST to signed URLs, and the Content-Range PUT that
// continues an interrupted one. A PUT carrying the IETF draft's headers becomes an IETF
// upload.
type xep struct {
	*core
	ietf *ietf
}

// tus is tus 1.0 at the resumable endpoint; requests in the IETF draft's terms go to ietf,
// and a finished upload is served by files.
type tus struct {
	*core
	ietf  *ietf
	files *files
}

// ietf is the IETF resumable-upload draft, interop versions 3 to 8.
type ietf struct{ *core }

// files serves downloads; a HEAD on a signed upload URL asks xep where its upload stands.
type files struct {
	*core
	xep *xep
}

// health answers the liveness and readiness probes.
type health struct{ *core }
