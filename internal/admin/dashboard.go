package admin

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"fileserver/internal/ops"
	"fileserver/internal/storage"
)

//go:embed web
var webFS embed.FS

// pages are the dashboard's templates, each a page over the layout.
var pages = func() map[string]*template.Template {
	funcs := template.FuncMap{
		"bytes":      humanBytes,
		"rate":       func(bps float64) string { return humanBytes(int64(bps)) + "/s" },
		"when":       func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") + " UTC" },
		"percent":    percent,
		"derefI":     func(p *int64) int64 { return *p },
		"clock":      func(t time.Time) string { return t.UTC().Format("15:04:05") },
		"eventLabel": func(kind string) string { return eventLabels[kind].label },
		"eventClass": func(kind string) string { return eventLabels[kind].class },
	}
	out := map[string]*template.Template{}
	for _, name := range []string{"login", "overview", "files", "file", "uploads", "uploaders", "takedowns"} {
		out[name] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(webFS, "web/templates/layout.html", "web/templates/"+name+".html"))
	}
	return out
}()

// dashboardRoutes serves the web dashboard: sign-in, the pages, and the forms that change
// state (each checked for its session's CSRF token and a same-origin request).
func (s *Server) dashboardRoutes(r chi.Router) {
	assets, _ := fs.Sub(webFS, "web/assets")
	r.Handle("/assets/*", http.StripPrefix("/assets/", http.FileServerFS(assets)))
	r.Get("/login", s.loginPage)
	r.Post("/login", s.login)
	r.Group(func(r chi.Router) {
		r.Use(s.requireSession)
		r.Get("/", s.overviewPage)
		r.Get("/files", s.filesPage)
		r.Get("/files/view", s.filePage)
		r.Get("/uploads", s.uploadsPage)
		r.Get("/uploaders", s.uploadersPage)
		r.Get("/takedowns", s.takedownsPage)
		r.Post("/logout", s.logout)
		r.Post("/files/delete", s.deleteForm)
		r.Post("/takedowns/new", s.takedownForm)
		r.Post("/takedowns/lift", s.liftForm)
		r.Post("/uploads/end", s.endUploadForm)
	})
}

// view is what every page's layout reads.
type view struct {
	Title, Nav, CSRF, Admin, Notice, Error string
	Data                                   any
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, v view) {
	if si, ok := r.Context().Value(sessionKey{}).(*signIn); ok {
		v.CSRF, v.Admin = si.csrf, si.name
	}
	if si, ok := r.Context().Value(sessionKey{}).(*signIn); ok && v.Notice == "" {
		v.Notice = s.signIns.takeFlash(si)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pages[page].Execute(w, v); err != nil {
		s.o.Log.Warn().Err(err).Str("page", page).Msg("rendering an admin page")
	}
}

type sessionKey struct{}

// requireSession sends a request without a dashboard session to the sign-in page, and
// checks the CSRF token and origin of the forms that change state.
func (s *Server) requireSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		si, ok := s.session(r)
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		if changesState(r.Method) && (!sameOrigin(r) || !si.csrfOK(r.PostFormValue("csrf"))) {
			s.o.Ops.Audit.SignIn(false, si.name, clientOf(r), "dashboard", "form without a valid CSRF token or from another origin")
			http.Error(w, "this form is not valid here: reload the page and try again", http.StatusForbidden)
			return
		}
		ctx := context.WithValue(context.WithValue(r.Context(), sessionKey{}, si), adminKey{}, si.name)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// sameOrigin tells whether a request that changes state comes from a page of this listener:
// browsers send Origin (or at least Sec-Fetch-Site) with every POST.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return r.Header.Get("Sec-Fetch-Site") == "same-origin"
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.session(r); ok {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "login", view{Title: "Sign in"})
}

// login exchanges a token for a session cookie. A request from another origin is refused
// (a page elsewhere must not sign a browser in under its own token).
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	client := clientOf(r)
	if !sameOrigin(r) {
		s.o.Ops.Audit.SignIn(false, "", client, "dashboard", "sign-in form from another origin")
		s.render(w, r, http.StatusForbidden, "login", view{Title: "Sign in", Error: "Sign in from this page."})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	name, ok := s.match(strings.TrimSpace(r.PostFormValue("token")))
	if !ok {
		s.o.Ops.Audit.SignIn(false, "", client, "dashboard", "unknown token")
		s.render(w, r, http.StatusUnauthorized, "login", view{Title: "Sign in", Error: "That token is not valid."})
		return
	}
	id, _ := s.signIns.start(name, time.Now())
	s.setCookie(w, id, int(s.o.SessionTTL.Seconds()))
	s.o.Ops.Audit.SignIn(true, name, client, "dashboard", "")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		s.signIns.end(c.Value)
	}
	s.setCookie(w, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Server) overviewPage(w http.ResponseWriter, r *http.Request) {
	data := struct {
		Overview Overview
		Recent   []ops.Event
	}{s.summary(), s.o.Ops.Events.Recent()}
	s.render(w, r, http.StatusOK, "overview", view{Title: "Overview", Nav: "overview", Data: data})
}

// filesView is the file browser's page.
type filesView struct {
	Prefix, Uploader, Next string
	Files                  []File
	Listable               bool
}

func (s *Server) filesPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v := filesView{Prefix: q.Get("prefix"), Uploader: q.Get("uploader"), Listable: s.o.Backend.List != nil}
	if v.Listable {
		lq := storage.ListQuery{Prefix: v.Prefix, After: q.Get("cursor"), Limit: 50, MaxScan: maxScan}
		if v.Uploader != "" {
			lq.Match = func(m storage.Meta) bool { return strings.Contains(m.Uploader, v.Uploader) }
		}
		page, err := s.o.Backend.List.List(r.Context(), lq)
		if err != nil {
			s.render(w, r, http.StatusInternalServerError, "files", view{Title: "Files", Nav: "files", Error: err.Error(), Data: v})
			return
		}
		v.Files, v.Next = s.withCounts(r.Context(), page.Files), page.Next
	}
	s.render(w, r, http.StatusOK, "files", view{Title: "Files", Nav: "files", Data: v})
}

func (s *Server) filePage(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("path")
	m, err := s.o.Backend.Store.Stat(r.Context(), name)
	if err != nil {
		status, msg := http.StatusInternalServerError, err.Error()
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrInvalidName) || errors.Is(err, storage.ErrEscapes) {
			status, msg = http.StatusNotFound, "No file is stored under that name."
		}
		s.render(w, r, status, "file", view{Title: "File", Nav: "files", Error: msg})
		return
	}
	s.render(w, r, http.StatusOK, "file", view{Title: m.Name, Nav: "files", Data: s.withCounts(r.Context(), []storage.Meta{m})[0]})
}

func (s *Server) uploadsPage(w http.ResponseWriter, r *http.Request) {
	list, err := s.uploadsInProgress(r.Context())
	v := view{Title: "Uploads", Nav: "uploads", Data: list}
	if err != nil {
		v.Error = "The upload sessions cannot be read: " + err.Error()
	}
	s.render(w, r, http.StatusOK, "uploads", v)
}

func (s *Server) uploadersPage(w http.ResponseWriter, r *http.Request) {
	list, _, err := s.uploaders()
	v := view{Title: "Uploaders", Nav: "uploaders", Data: list}
	if err != nil {
		v.Error = err.Error()
	}
	s.render(w, r, http.StatusOK, "uploaders", v)
}

func (s *Server) takedownsPage(w http.ResponseWriter, r *http.Request) {
	list, err := s.o.Ops.Takedowns.List(r.Context())
	v := view{Title: "Takedowns", Nav: "takedowns", Data: list}
	if err != nil {
		v.Error = "The takedown list cannot be read: " + err.Error()
	}
	s.render(w, r, http.StatusOK, "takedowns", v)
}

func (s *Server) deleteForm(w http.ResponseWriter, r *http.Request) {
	name := r.PostFormValue("path")
	if _, err := s.remove(r.Context(), name, adminName(r.Context()), clientOf(r), r.PostFormValue("reason")); err != nil {
		s.render(w, r, http.StatusNotFound, "file", view{Title: "File", Nav: "files", Error: "Not removed: " + err.Error()})
		return
	}
	s.finish(w, r, "/files", "Removed "+name+".")
}

func (s *Server) takedownForm(w http.ResponseWriter, r *http.Request) {
	req := takedownRequest{Reason: strings.TrimSpace(r.PostFormValue("reason"))}
	target := strings.TrimSpace(r.PostFormValue("name"))
	if r.PostFormValue("kind") == "prefix" {
		req.Prefix = target
	} else {
		req.Path = target
	}
	if msg := req.check(); msg != "" {
		list, _ := s.o.Ops.Takedowns.List(r.Context())
		s.render(w, r, http.StatusBadRequest, "takedowns", view{Title: "Takedowns", Nav: "takedowns", Data: list, Error: "Not taken down: " + msg + "."})
		return
	}
	td, err := s.takeDown(r.Context(), req, adminName(r.Context()), clientOf(r))
	if err != nil {
		list, _ := s.o.Ops.Takedowns.List(r.Context())
		s.render(w, r, http.StatusInternalServerError, "takedowns", view{Title: "Takedowns", Nav: "takedowns", Data: list, Error: err.Error()})
		return
	}
	s.finish(w, r, "/takedowns", "Taken down; "+strconv.Itoa(td.Removed)+" file(s) removed.")
}

func (s *Server) liftForm(w http.ResponseWriter, r *http.Request) {
	td, ok, err := s.lift(r.Context(), r.PostFormValue("id"), adminName(r.Context()), clientOf(r))
	if err != nil || !ok {
		s.finish(w, r, "/takedowns", "No such takedown.")
		return
	}
	s.finish(w, r, "/takedowns", "Lifted "+td.ID+".")
}

func (s *Server) endUploadForm(w http.ResponseWriter, r *http.Request) {
	id := r.PostFormValue("id")
	msg := "Ended " + id + "."
	if s.end(r.Context(), id, adminName(r.Context()), clientOf(r)) != nil {
		msg = "No such upload."
	}
	s.finish(w, r, "/uploads", msg)
}

// eventLabels name the events in the overview's list (as app.js does for the live ones).
var eventLabels = map[string]struct{ label, class string }{
	"upload_started": {"upload started", ""}, "upload_committed": {"stored", "good"}, "upload_failed": {"upload failed", "bad"},
	"download_started": {"download", ""}, "file_removed": {"removed", "bad"},
}

// finish answers a form that did its work: the page to see it on, with a notice kept in the
// session for its next page (never in the URL, where anyone could write one).
func (s *Server) finish(w http.ResponseWriter, r *http.Request, page, notice string) {
	if si, ok := r.Context().Value(sessionKey{}).(*signIn); ok {
		s.signIns.setFlash(si, notice)
	}
	http.Redirect(w, r, page, http.StatusSeeOther)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64) + " " + string("KMGTPE"[exp]) + "iB"
}

func percent(part, whole int64) int {
	if whole <= 0 {
		return 0
	}
	return int(min(100, part*100/whole))
}
