package admin

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"sync"
	"time"
)

// cookieName is the dashboard's session cookie.
const cookieName = "fileserver_admin"

// signIn is a dashboard session: who signed in (the token's name), the CSRF token its forms
// carry, and when it ends.
type signIn struct {
	name    string
	csrf    string
	expires time.Time
	flash   string // the notice the next page shows (signIns.mu)
}

func (si *signIn) csrfOK(given string) bool {
	return given != "" && subtle.ConstantTimeCompare([]byte(given), []byte(si.csrf)) == 1
}

// signIns are the dashboard sessions of this node, in memory: a restart signs everyone out.
type signIns struct {
	ttl time.Duration
	mu  sync.Mutex
	set map[string]*signIn
}

func newSignIns(ttl time.Duration) *signIns { return &signIns{ttl: ttl, set: map[string]*signIn{}} }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// start makes a session for the token named name; the id goes into the cookie.
func (s *signIns) start(name string, now time.Time) (id string, si *signIn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.set {
		if now.After(v.expires) {
			delete(s.set, k)
		}
	}
	id = randomHex(32)
	si = &signIn{name: name, csrf: randomHex(32), expires: now.Add(s.ttl)}
	s.set[id] = si
	return id, si
}

func (s *signIns) get(id string, now time.Time) (*signIn, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	si, ok := s.set[id]
	if !ok || now.After(si.expires) {
		delete(s.set, id)
		return nil, false
	}
	return si, true
}

func (s *signIns) setFlash(si *signIn, notice string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	si.flash = notice
}

func (s *signIns) takeFlash(si *signIn) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := si.flash
	si.flash = ""
	return f
}

func (s *signIns) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.set, id)
}

// session is the request's dashboard session, from its cookie.
func (s *Server) session(r *http.Request) (*signIn, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil || len(c.Value) != 64 {
		return nil, false
	}
	return s.signIns.get(c.Value, time.Now())
}

func (s *Server) setCookie(w http.ResponseWriter, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.o.Secure, SameSite: http.SameSiteStrictMode,
	})
}
