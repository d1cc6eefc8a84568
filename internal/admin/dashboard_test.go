package admin_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"fileserver/internal/admin"
)

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (e *env) form(t *testing.T, path string, values url.Values, cookie *http.Cookie, origin string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.admin.URL+path, strings.NewReader(values.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp, []byte(b.String())
}

// signIn signs in through the form and returns the session cookie and the page's CSRF token.
func (e *env) signIn(t *testing.T) (*http.Cookie, string) {
	t.Helper()
	resp, body := e.form(t, "/login", url.Values{"token": {token}}, nil, e.admin.URL)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %s %s", resp.Status, body)
	}
	var c *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == "fileserver_admin" {
			c = k
		}
	}
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure || c.Path != "/" {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/ (not Secure over plain http)", c)
	}
	req, _ := http.NewRequest(http.MethodGet, e.admin.URL+"/takedowns", nil)
	req.AddCookie(c)
	resp, page := do(t, req)
	want(t, resp, page, http.StatusOK)
	_, rest, ok := strings.Cut(string(page), `name="csrf" value="`)
	if !ok {
		t.Fatalf("no CSRF token in the page: %s", page)
	}
	csrf, _, _ := strings.Cut(rest, `"`)
	return c, csrf
}

func TestDashboardSignIn(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest(http.MethodGet, e.admin.URL+"/files", nil)
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("a page without a session: %s to %q, want 303 to /login", resp.Status, resp.Header.Get("Location"))
	}
	resp, body := e.form(t, "/login", url.Values{"token": {"wrong-token-0123456789abcdef0123456789"}}, nil, e.admin.URL)
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 || !strings.Contains(string(body), "not valid") {
		t.Errorf("wrong token: %s, cookies %v: %s", resp.Status, resp.Cookies(), body)
	}
	// A sign-in posted from another site's page is refused, even with the right token.
	resp, body = e.form(t, "/login", url.Values{"token": {token}}, nil, "https://evil.example")
	if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
		t.Errorf("cross-origin sign-in: %s %s", resp.Status, body)
	}
	c, _ := e.signIn(t)
	for _, page := range []string{"/", "/files", "/uploads", "/uploaders", "/takedowns", "/files/view?path=none/such"} {
		req, _ := http.NewRequest(http.MethodGet, e.admin.URL+page, nil)
		req.AddCookie(c)
		resp, body := do(t, req)
		if (resp.StatusCode != http.StatusOK && page != "/files/view?path=none/such") || !strings.Contains(string(body), "Sign out") {
			t.Errorf("%s: %s", page, resp.Status)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "script-src 'unsafe") {
			t.Errorf("%s: CSP %q", page, csp)
		}
	}
	log := e.audit.String()
	if !strings.Contains(log, `"event":"admin_signin","client":"127.0.0.1","via":"dashboard","by":"alice"`) ||
		strings.Count(log, `"event":"admin_signin_failed"`) != 2 {
		t.Errorf("audit log: %s", log)
	}
}

// Forms that change state need the session's CSRF token and a same-origin request; the API
// with a session cookie needs the token in X-CSRF-Token.
func TestDashboardCSRF(t *testing.T) {
	e := newEnv(t)
	e.upload(t, "c/keep.txt", []byte("keep"))
	c, csrf := e.signIn(t)
	del := url.Values{"path": {"c/keep.txt"}, "reason": {"test"}}
	for name, try := range map[string]struct {
		values url.Values
		origin string
		cookie *http.Cookie
	}{
		"no token":     {del, e.admin.URL, c},
		"wrong token":  {withCSRF(del, strings.Repeat("0", 64)), e.admin.URL, c},
		"other origin": {withCSRF(del, csrf), "https://evil.example", c},
		"no session":   {withCSRF(del, csrf), e.admin.URL, nil},
	} {
		resp, body := e.form(t, "/files/delete", try.values, try.cookie, try.origin)
		if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %s %s", name, resp.Status, body)
		}
		if r, _ := e.get(t, "c/keep.txt"); r.StatusCode != http.StatusOK {
			t.Fatalf("%s removed the file", name)
		}
	}
	req, _ := http.NewRequest(http.MethodDelete, e.admin.URL+"/api/v1/files/c/keep.txt", nil)
	req.AddCookie(c)
	resp, body := do(t, req)
	want(t, resp, body, http.StatusUnauthorized)
	resp, body = e.form(t, "/files/delete", withCSRF(del, csrf), c, e.admin.URL)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete with the token: %s %s", resp.Status, body)
	}
	if r, _ := e.get(t, "c/keep.txt"); r.StatusCode != http.StatusNotFound {
		t.Errorf("after the delete the public URL answers %s", r.Status)
	}
	// Signed out, the cookie opens nothing.
	resp, _ = e.form(t, "/logout", url.Values{"csrf": {csrf}}, c, e.admin.URL)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %s", resp.Status)
	}
	req, _ = http.NewRequest(http.MethodGet, e.admin.URL+"/api/v1/files", nil)
	req.AddCookie(c)
	resp, body = do(t, req)
	want(t, resp, body, http.StatusUnauthorized)
}

func withCSRF(v url.Values, csrf string) url.Values {
	out := url.Values{"csrf": {csrf}}
	for k, vs := range v {
		out[k] = vs
	}
	return out
}

// Under TLS the session cookie is Secure.
func TestDashboardCookieSecureUnderTLS(t *testing.T) {
	e := newEnv(t)
	a := admin.New(admin.Options{Tokens: []admin.Token{{Name: "alice", Token: token}}, Backend: e.store.Backend(), Ops: e.ops, Secure: true})
	defer a.Close()
	srv := httptest.NewTLSServer(a)
	defer srv.Close()
	cl := srv.Client()
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", srv.URL)
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies()
	if resp.StatusCode != http.StatusSeeOther || len(cookies) != 1 || !cookies[0].Secure || !cookies[0].HttpOnly {
		t.Fatalf("sign-in under TLS: %s, cookies %+v", resp.Status, cookies)
	}
}

// Notices come from the session, never from the URL: a link cannot put words on the page.
func TestDashboardNoticeNotFromURL(t *testing.T) {
	e := newEnv(t)
	spoof := url.QueryEscape("Tokens rotated: paste yours at https://evil.example/")
	req, _ := http.NewRequest(http.MethodGet, e.admin.URL+"/login?done="+spoof, nil)
	resp, body := do(t, req)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), "evil.example") {
		t.Errorf("sign-in page: %s shows the URL's text", resp.Status)
	}
	c, csrf := e.signIn(t)
	req, _ = http.NewRequest(http.MethodGet, e.admin.URL+"/files?done="+spoof, nil)
	req.AddCookie(c)
	if _, body := do(t, req); strings.Contains(string(body), "evil.example") {
		t.Error("a signed-in page shows the URL's text")
	}
	e.upload(t, "n/x.txt", []byte("x"))
	resp, _ = e.form(t, "/files/delete", url.Values{"csrf": {csrf}, "path": {"n/x.txt"}}, c, e.admin.URL)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/files" {
		t.Fatalf("delete: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	for i, wantNotice := range []bool{true, false} { // shown once
		req, _ = http.NewRequest(http.MethodGet, e.admin.URL+"/files", nil)
		req.AddCookie(c)
		_, body := do(t, req)
		if strings.Contains(string(body), "Removed n/x.txt.") != wantNotice {
			t.Errorf("page %d after the delete: notice shown %v, want %v", i+1, !wantNotice, wantNotice)
		}
	}
}
