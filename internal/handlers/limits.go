package handlers

import (
	"errors"
	"io"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"fileserver/internal/hmacauth"
)

// ErrTooSlow: an upload's average rate stayed below limits.min_upload_rate past the grace.
var ErrTooSlow = errors.New("upload slower than the minimum rate")

// limiter enforces [limits] and storage.min_free on requests before their body is read.
type limiter struct {
	cfg   Limits
	space func() (room int64, ok bool)
	isUp  func(*http.Request) bool

	inflight atomic.Int64
	mu       sync.Mutex
	clients  map[string]*clientState
	sweptAt  time.Time
	// sweepAt is the number of clients that makes a sweep due before its minute is up:
	// twice what the last one left, so that a flood of new clients costs each request a
	// constant share of sweeping, not a walk of every client.
	sweepAt int
	sweeps  int // walks made, for tests
}

type clientState struct {
	uploads int
	tokens  float64
	last    time.Time
}

// retryAfter is what Retry-After says when a limit refuses a request.
const retryAfter = 5 * time.Second

func (s *Server) newLimiter() *limiter {
	l := &limiter{cfg: s.cfg.Limits, clients: map[string]*clientState{}, sweepAt: minSweepAt}
	if sp := s.backend.Space; sp != nil {
		l.space = sp.Room
	}
	prefixes := []string{s.cfg.UploadPrefix}
	if s.uploads != nil {
		prefixes = append(prefixes, s.cfg.ResumablePrefix)
	}
	l.isUp = func(r *http.Request) bool {
		if r.Method != http.MethodPut && r.Method != http.MethodPost && r.Method != http.MethodPatch {
			return false
		}
		for _, p := range prefixes {
			if strings.HasPrefix(r.URL.Path, strings.TrimSuffix(p, "/")) {
				return true
			}
		}
		return false
	}
	return l
}

func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
}

// middleware refuses what a limit forbids, and holds upload slots for the request's length.
func (l *limiter) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client := clientKey(remoteHost(r), l.cfg.IPv6Prefix)
		if wait, ok := l.allowRate(client); !ok {
			setRetryAfter(w, wait)
			writeError(w, r, errorf(http.StatusTooManyRequests, "too many requests from this address"))
			return
		}
		if !l.isUp(r) {
			next.ServeHTTP(w, r)
			return
		}
		if err := l.checkSpace(r); err != nil {
			writeError(w, r, err)
			return
		}
		release, err := l.acquireUpload(client)
		if err != nil {
			setRetryAfter(w, retryAfter)
			writeError(w, r, err)
			return
		}
		defer release()
		if l.cfg.MinUploadRate > 0 && r.Body != nil && r.Body != http.NoBody {
			r.Body = &minRateBody{ReadCloser: r.Body, min: float64(l.cfg.MinUploadRate),
				grace: l.cfg.MinRateGrace, start: time.Now()}
		}
		next.ServeHTTP(w, r)
	})
}

// allowRate takes a token from the client's bucket (rate per second, burst twice that).
func (l *limiter) allowRate(client string) (time.Duration, bool) {
	rate := l.cfg.PerClientRate
	if rate <= 0 {
		return 0, true
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	c := l.client(client, now)
	burst := math.Max(2*rate, 1)
	c.tokens = math.Min(burst, c.tokens+now.Sub(c.last).Seconds()*rate)
	c.last = now
	if c.tokens < 1 {
		return time.Duration((1 - c.tokens) / rate * float64(time.Second)), false
	}
	c.tokens--
	return 0, true
}

func (l *limiter) client(addr string, now time.Time) *clientState {
	c := l.clients[addr]
	if c == nil {
		c = &clientState{tokens: math.Max(2*l.cfg.PerClientRate, 1), last: now}
		l.clients[addr] = c
	}
	return c
}

// minSweepAt is the fewest clients that make a sweep due early.
const minSweepAt = 10000

// sweep forgets clients idle for a minute with no upload running, so the map stays small.
func (l *limiter) sweep(now time.Time) {
	if now.Sub(l.sweptAt) < time.Minute && len(l.clients) < l.sweepAt {
		return
	}
	l.sweptAt = now
	l.sweeps++
	for k, c := range l.clients {
		if c.uploads == 0 && now.Sub(c.last) > time.Minute {
			delete(l.clients, k)
		}
	}
	l.sweepAt = max(minSweepAt, 2*len(l.clients))
}

// clientKey is the client the per-client limits count an address as: an IPv6 address by its
// first prefix bits (a subscriber's /64 by default), anything else as it is.
func clientKey(host string, prefix int) string {
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Is6() || ip.Is4In6() || prefix <= 0 || prefix >= 128 {
		return host
	}
	p, err := ip.WithZone("").Prefix(prefix)
	if err != nil {
		return host
	}
	return p.String()
}

// acquireUpload takes a server-wide and a per-client upload slot.
func (l *limiter) acquireUpload(client string) (release func(), err error) {
	if max := int64(l.cfg.MaxConcurrentUploads); max > 0 {
		if l.inflight.Add(1) > max {
			l.inflight.Add(-1)
			return nil, errorf(http.StatusServiceUnavailable, "too many uploads in progress, retry later")
		}
	}
	perClient := l.cfg.PerClientUploads
	if perClient > 0 {
		l.mu.Lock()
		c := l.client(client, time.Now())
		if c.uploads >= perClient {
			l.mu.Unlock()
			if l.cfg.MaxConcurrentUploads > 0 {
				l.inflight.Add(-1)
			}
			return nil, errorf(http.StatusTooManyRequests, "too many uploads in progress from this address")
		}
		c.uploads++
		l.mu.Unlock()
	}
	return func() {
		if l.cfg.MaxConcurrentUploads > 0 {
			l.inflight.Add(-1)
		}
		if perClient > 0 {
			l.mu.Lock()
			if c := l.clients[client]; c != nil {
				c.uploads--
				c.last = time.Now()
			}
			l.mu.Unlock()
		}
	}, nil
}

// checkSpace refuses, with 507 and before its body is read, an upload whose announced body
// would take the filesystem below storage.min_free, counting what uploads in progress were
// promised. The writes themselves keep the floor too (a body longer than announced, or of
// no announced length, cannot cross it): this only answers early.
func (l *limiter) checkSpace(r *http.Request) error {
	if l.space == nil {
		return nil
	}
	if room, ok := l.space(); ok && room < max(r.ContentLength, 0) {
		return errorf(http.StatusInsufficientStorage, "not enough storage space")
	}
	return nil
}

// minRateBody ends an upload whose average rate is below min once grace has passed.
type minRateBody struct {
	io.ReadCloser
	min   float64
	grace time.Duration
	start time.Time
	n     int64
}

func (b *minRateBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if el := time.Since(b.start); el > b.grace && float64(b.n)/el.Seconds() < b.min && err == nil {
		return n, ErrTooSlow
	}
	return n, err
}

// uploaderKey names who an upload is charged to: the JID a token names, else the address
// (an IPv6 one by its prefix, as the per-client limits count it: changing address within
// one's /64 does not start a new daily quota).
func (s *core) uploaderKey(r *http.Request, g hmacauth.Grant) string {
	if g.Subject != "" {
		return g.Subject
	}
	return "addr:" + clientKey(remoteHost(r), s.cfg.Limits.IPv6Prefix)
}
