package admin_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"fileserver/internal/admin"
	"fileserver/internal/app"
	"fileserver/internal/audit"
	"fileserver/internal/chunking"
	"fileserver/internal/config"
	"fileserver/internal/handlers"
	"fileserver/internal/hmacauth"
	"fileserver/internal/ops"
	"fileserver/internal/storage"
	"fileserver/internal/streaming"
	"fileserver/internal/testkit"
)

const (
	secret = "admin-test-secret-0123456789abcdef0123"
	token  = "0123456789abcdef0123456789abcdef-alice"
)

// env is a public server and its admin listener over one local store, wired as the command
// wires them.
type env struct {
	public, admin *httptest.Server
	store         *storage.Local
	ops           *ops.Ops
	audit         *testkit.SyncBuffer
	uploads       *chunking.Uploads
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Storage.Path, cfg.Storage.Fsync, cfg.Auth.Secret = dir, false, secret
	store, err := storage.OpenLocal(dir, storage.LocalOptions{Checksum: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	engine := streaming.New(app.EngineOptions(cfg.Streaming))
	book, err := ops.OpenFileBook(store.Root(), "takedowns.json")
	if err != nil {
		t.Fatal(err)
	}
	counts, err := ops.OpenFileCounts(store.Root(), "downloads.json")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: store, audit: &testkit.SyncBuffer{}}
	auditLog := audit.New(e.audit, nil, time.Hour)
	e.ops = &ops.Ops{Audit: auditLog, Events: ops.NewBus(), Takedowns: ops.NewTakedowns(book), Counts: ops.NewCounts(counts, time.Hour),
		Remove: store.Delete}
	t.Cleanup(func() { e.ops.Counts.Close(); auditLog.Close() })
	sessions, err := chunking.NewDirStore(store.Root(), false)
	if err != nil {
		t.Fatal(err)
	}
	quota := &storage.Quota{Book: store}
	e.uploads = chunking.New(sessions, store.Backend(), chunking.Options{
		Copier: engine, Quota: quota, TTL: time.Hour, Admit: e.ops.Check,
		Committed: func(ctx context.Context, s *chunking.Session, m storage.Meta) error {
			return e.ops.Committed(ctx, ops.Commit{ID: s.ID, Name: m.Name, Size: m.Size, Protocol: s.Protocol})
		},
	})
	pub := httptest.NewUnstartedServer(nil)
	h := handlers.New(handlers.Options{
		Config: app.HandlerConfig(cfg), Storage: store.Backend(), Engine: engine, Uploads: e.uploads, Quota: quota,
		Verifier: hmacauth.NewVerifier(hmacauth.Options{Secret: secret, TypeByName: handlers.TypeByName}),
		Log:      zerolog.Nop(), Listen: pub.Listener.Addr().String(), Ops: e.ops,
	})
	pub.Config.Handler = h
	pub.Start()
	t.Cleanup(pub.Close)
	engine.Watch(e.ops)
	a := admin.New(admin.Options{
		Tokens:  []admin.Token{{Name: "alice", Token: token}},
		Backend: store.Backend(), Uploads: e.uploads, Engine: engine, Ops: e.ops, Quota: quota,
		DownloadURL: h.DownloadURL, Progress: 20 * time.Millisecond, HTTP: h.Stats(),
	})
	e.admin = httptest.NewServer(a)
	t.Cleanup(func() { e.admin.Close(); a.Close() })
	e.public = pub
	return e
}

func (e *env) api(t *testing.T, method, path string, body any) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, e.admin.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func want(t *testing.T, resp *http.Response, body []byte, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s %s: %s %s, want %d", resp.Request.Method, resp.Request.URL.Path, resp.Status, body, status)
	}
}

// upload stores body under name through the public listener (a v1 PUT).
func (e *env) upload(t *testing.T, name string, body []byte) *http.Response {
	t.Helper()
	u := e.public.URL + "/upload/" + name + "?v=" + hmacauth.SignV1(secret, name, int64(len(body)))
	req, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(body))
	resp, _ := do(t, req)
	return resp
}

func (e *env) get(t *testing.T, name string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.public.URL+"/upload/"+name, nil)
	return do(t, req)
}

// Every API route asks for a token: none, an unknown one, a short one, or another scheme is a
// 401, and each refusal is audited without the token given.
func TestAPIRefusesWithoutToken(t *testing.T) {
	e := newEnv(t)
	cases := map[string]string{
		"none":                        "",
		"wrong":                       "Bearer " + strings.Repeat("x", 40),
		"short":                       "Bearer abc",
		"basic":                       "Basic " + token,
		"token as cookie-less prefix": "Bearer " + token[:len(token)-1],
	}
	routes := []struct{ method, path string }{
		{"GET", "/api/v1/files"}, {"GET", "/api/v1/files/a/b"}, {"DELETE", "/api/v1/files/a/b"},
		{"GET", "/api/v1/takedowns"}, {"POST", "/api/v1/takedowns"}, {"DELETE", "/api/v1/takedowns/td-1"},
		{"GET", "/api/v1/uploads"}, {"DELETE", "/api/v1/uploads/x"}, {"GET", "/api/v1/uploaders"},
		{"GET", "/api/v1/events"}, {"GET", "/api/v1/overview"},
	}
	for name, auth := range cases {
		for _, r := range routes {
			req, _ := http.NewRequest(r.method, e.admin.URL+r.path, strings.NewReader(`{"path":"a/b","reason":"x"}`))
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, body := do(t, req)
			if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: %s %s: %s %s, want 401 with WWW-Authenticate", name, r.method, r.path, resp.Status, body)
			}
		}
	}
	e.ops.Audit.Close() // writes the period's summary
	log := e.audit.String()
	total := len(cases) * len(routes)
	// A line for each of the first 20 of a period, then only a count: whoever reaches the
	// admin port cannot fill the disk.
	if n := strings.Count(log, `"event":"admin_signin_failed"`); n != 20 ||
		!strings.Contains(log, fmt.Sprintf(`"event":"admin_signins_failed","total":%d,"not_written":%d`, total, total-20)) {
		t.Errorf("%d refusals audited one by one (want 20) of %d: %s", n, total, log)
	}
	if strings.Contains(log, token[:20]) || strings.Contains(log, "xxxxxxxx") {
		t.Errorf("the audit log holds a token given: %s", log)
	}
	// Nothing was changed by the refused requests.
	if tds, _ := e.ops.Takedowns.List(context.Background()); len(tds) != 0 {
		t.Errorf("takedowns after refused requests: %+v", tds)
	}
}

// The public listener serves none of the admin routes.
func TestPublicListenerHasNoAdminRoutes(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/api/v1/files", "/api/v1/takedowns", "/api/v1/events", "/login"} {
		for _, method := range []string{"GET", "POST", "DELETE"} {
			req, _ := http.NewRequest(method, e.public.URL+p, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, body := do(t, req)
			if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("public %s %s: %s %s", method, p, resp.Status, body)
			}
		}
	}
}

type filesPage struct {
	Files []struct {
		Path, ContentType, Uploader, SHA256, URL string
		Size, Downloads                          int64
		Expires                                  *time.Time
	} `json:"files"`
	NextCursor string `json:"next_cursor"`
}

// Listing pages through every file once, in order, whatever the page size; prefix and
// uploader narrow it.
func TestListFilesPages(t *testing.T) {
	e := newEnv(t)
	var names []string
	for _, n := range []string{"a/1.txt", "a/2.txt", "a.txt", "a/b/3.txt", "b/4.txt", "b/c/d/5.txt", "c.txt", "ab/6.txt"} {
		if resp := e.upload(t, n, []byte("content of "+n)); resp.StatusCode != http.StatusCreated {
			t.Fatalf("upload %s: %s", n, resp.Status)
		}
		names = append(names, n)
	}
	for _, limit := range []int{1, 2, 3, 100} {
		var got []string
		cursor := ""
		for range 20 {
			resp, body := e.api(t, "GET", fmt.Sprintf("/api/v1/files?limit=%d&cursor=%s", limit, cursor), nil)
			want(t, resp, body, http.StatusOK)
			var p filesPage
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatal(err)
			}
			if len(p.Files) > limit {
				t.Fatalf("limit %d: a page of %d", limit, len(p.Files))
			}
			for _, f := range p.Files {
				got = append(got, f.Path)
			}
			if p.NextCursor == "" {
				break
			}
			cursor = p.NextCursor
		}
		if len(got) != len(names) || !sameSet(got, names) {
			t.Errorf("limit %d: listed %v, want each of %v once", limit, got, names)
		}
	}
	resp, body := e.api(t, "GET", "/api/v1/files?prefix=b/", nil)
	want(t, resp, body, http.StatusOK)
	var p filesPage
	json.Unmarshal(body, &p)
	if len(p.Files) != 2 || p.Files[0].Path != "b/4.txt" || p.Files[1].Path != "b/c/d/5.txt" {
		t.Errorf("prefix b/: %+v", p.Files)
	}
	resp, body = e.api(t, "GET", "/api/v1/files?prefix=a", nil)
	want(t, resp, body, http.StatusOK)
	json.Unmarshal(body, &p)
	if len(p.Files) != 5 {
		t.Errorf("prefix a: %d files, want 5 (a/..., a.txt, ab/6.txt): %s", len(p.Files), body)
	}
	resp, body = e.api(t, "GET", "/api/v1/files?uploader=nobody@example.org", nil)
	want(t, resp, body, http.StatusOK)
	json.Unmarshal(body, &p)
	if len(p.Files) != 0 {
		t.Errorf("uploader filter: %s", body)
	}
	for _, bad := range []string{"0", "-1", "1001", "x"} {
		resp, body := e.api(t, "GET", "/api/v1/files?limit="+bad, nil)
		want(t, resp, body, http.StatusBadRequest)
	}
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		if m[s] != 1 {
			return false
		}
		delete(m, s)
	}
	return len(m) == 0
}

// A file's details carry its digest and downloads; a delete makes the public URL 404 at
// once (even from the small-file cache), removes the bytes, and is audited.
func TestGetAndDeleteFile(t *testing.T) {
	e := newEnv(t)
	body := []byte("the photo's bytes")
	e.upload(t, "s/photo.jpg", body)
	for range 3 {
		resp, got := e.get(t, "s/photo.jpg")
		want(t, resp, got, http.StatusOK)
	}
	req, _ := http.NewRequest("GET", e.public.URL+"/upload/s/photo.jpg", nil)
	req.Header.Set("Range", "bytes=5-")
	do(t, req) // a later range is no new download
	resp, got := e.api(t, "GET", "/api/v1/files/s/photo.jpg", nil)
	want(t, resp, got, http.StatusOK)
	var f struct {
		Path, SHA256, URL string
		Size, Downloads   int64
	}
	json.Unmarshal(got, &f)
	if f.Path != "s/photo.jpg" || f.Size != int64(len(body)) || len(f.SHA256) != 64 || f.Downloads != 3 ||
		f.URL != e.public.URL+"/upload/s/photo.jpg" {
		t.Errorf("file %+v (%s)", f, got)
	}
	resp, got = e.api(t, "DELETE", "/api/v1/files/s/photo.jpg", nil)
	want(t, resp, got, http.StatusNoContent)
	resp, got = e.get(t, "s/photo.jpg")
	want(t, resp, got, http.StatusNotFound)
	if _, err := os.Stat(filepath.Join(e.store.Root().Name(), "files", "s", "photo.jpg")); !os.IsNotExist(err) {
		t.Errorf("the bytes are still on disk: %v", err)
	}
	resp, got = e.api(t, "DELETE", "/api/v1/files/s/photo.jpg", nil)
	want(t, resp, got, http.StatusNotFound)
	resp, got = e.api(t, "GET", "/api/v1/files/s/photo.jpg", nil)
	want(t, resp, got, http.StatusNotFound)
	resp, got = e.api(t, "DELETE", "/api/v1/files/../etc/passwd", nil)
	if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a path outside the store: %s %s", resp.Status, got)
	}
	resp, got = e.api(t, "GET", "/api/v1/overview", nil)
	var o admin.Overview
	json.Unmarshal(got, &o)
	if resp.StatusCode != http.StatusOK || o.ClientErrors != 1 || o.Requests != 6 || o.ServerErrors != 0 || o.StoredFiles == nil || *o.StoredFiles != 0 {
		t.Errorf("overview after 5 answered requests and a 404: %s", got)
	}
	if !strings.Contains(e.audit.String(), `"event":"file_removed","name":"s/photo.jpg","size":17,"by":"alice"`) {
		t.Errorf("audit log lacks the removal: %s", e.audit.String())
	}
}

// A takedown by prefix removes what is under it (and nothing else), blocks new uploads there,
// is listed, and lifting it lets uploads in again.
func TestTakedownByPrefix(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"spam/1.bin", "spam/x/2.bin", "spammer.bin", "keep/3.bin"} {
		e.upload(t, n, []byte(n))
	}
	resp, body := e.api(t, "POST", "/api/v1/takedowns", map[string]string{"prefix": "spam/", "reason": "abuse report #12"})
	want(t, resp, body, http.StatusCreated)
	var td ops.Takedown
	json.Unmarshal(body, &td)
	if td.ID == "" || td.Prefix != "spam/" || td.Removed != 2 || td.By != "alice" {
		t.Errorf("takedown %+v", td)
	}
	for n, status := range map[string]int{"spam/1.bin": 404, "spam/x/2.bin": 404, "spammer.bin": 200, "keep/3.bin": 200} {
		resp, b := e.get(t, n)
		want(t, resp, b, status)
	}
	if resp := e.upload(t, "spam/new.bin", []byte("again")); resp.StatusCode != http.StatusUnavailableForLegalReasons {
		t.Errorf("upload under a taken-down prefix: %s", resp.Status)
	}
	resp, body = e.api(t, "GET", "/api/v1/takedowns", nil)
	want(t, resp, body, http.StatusOK)
	if !strings.Contains(string(body), td.ID) || !strings.Contains(string(body), `"removed": 2`) {
		t.Errorf("takedowns: %s", body)
	}
	for _, bad := range []any{
		map[string]string{"reason": "no name"},
		map[string]string{"path": "a/b", "prefix": "a/", "reason": "both"},
		map[string]string{"path": "a/b"},
		map[string]string{"path": "../x", "reason": "r"},
		"not an object",
		map[string]string{"path": "a/b", "reason": "r", "extra": "field"},
		map[string]string{"prefix": "spam", "reason": "a prefix that would also take spammer.bin"},
	} {
		resp, body := e.api(t, "POST", "/api/v1/takedowns", bad)
		want(t, resp, body, http.StatusBadRequest)
	}
	resp, body = e.api(t, "DELETE", "/api/v1/takedowns/"+td.ID, nil)
	want(t, resp, body, http.StatusNoContent)
	resp, body = e.api(t, "DELETE", "/api/v1/takedowns/"+td.ID, nil)
	want(t, resp, body, http.StatusNotFound)
	if resp := e.upload(t, "spam/new.bin", []byte("again")); resp.StatusCode != http.StatusCreated {
		t.Errorf("upload after the takedown was lifted: %s", resp.Status)
	}
	log := e.audit.String()
	for _, ev := range []string{`"event":"takedown","id":"` + td.ID, `"event":"takedown_lifted","id":"` + td.ID, `"reason":"takedown ` + td.ID} {
		if !strings.Contains(log, ev) {
			t.Errorf("audit log lacks %s: %s", ev, log)
		}
	}
}

// Uploads in progress are listed with where they stand, and an admin can end one.
func TestUploadsInProgress(t *testing.T) {
	e := newEnv(t)
	claims := hmacauth.Claims{Sub: "bob@example.org", Iat: time.Now().Unix(), Exp: time.Now().Add(time.Minute).Unix(),
		Slot: "up", Filename: "big.bin", Filesize: 1000, Filetype: "application/octet-stream"}
	req, _ := http.NewRequest("POST", e.public.URL+"/files/", nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", "1000")
	req.Header.Set("Authorization", "Bearer "+hmacauth.SignToken(secret, claims))
	resp, body := do(t, req)
	want(t, resp, body, http.StatusCreated)
	loc := resp.Header.Get("Location")
	patch, _ := http.NewRequest("PATCH", loc, bytes.NewReader(make([]byte, 400)))
	patch.Header.Set("Tus-Resumable", "1.0.0")
	patch.Header.Set("Upload-Offset", "0")
	patch.Header.Set("Content-Type", "application/offset+octet-stream")
	resp, body = do(t, patch)
	want(t, resp, body, http.StatusNoContent)
	resp, body = e.api(t, "GET", "/api/v1/uploads", nil)
	want(t, resp, body, http.StatusOK)
	var list struct{ Uploads []admin.Upload }
	json.Unmarshal(body, &list)
	if len(list.Uploads) != 1 || list.Uploads[0].Path != "up/big.bin" || list.Uploads[0].Offset != 400 ||
		list.Uploads[0].Length != 1000 || list.Uploads[0].Protocol != "tus" || list.Uploads[0].Uploader != "bob@example.org" {
		t.Fatalf("uploads: %s", body)
	}
	id := list.Uploads[0].ID
	resp, body = e.api(t, "DELETE", "/api/v1/uploads/"+id, nil)
	want(t, resp, body, http.StatusNoContent)
	head, _ := http.NewRequest("HEAD", loc, nil)
	head.Header.Set("Tus-Resumable", "1.0.0")
	resp, _ = do(t, head)
	if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusGone {
		t.Errorf("HEAD of an ended upload: %s", resp.Status)
	}
	resp, body = e.api(t, "DELETE", "/api/v1/uploads/"+id, nil)
	want(t, resp, body, http.StatusNotFound)
	if !strings.Contains(e.audit.String(), `"event":"upload_ended","id":"`+id) {
		t.Errorf("audit log lacks the ended upload: %s", e.audit.String())
	}
}

// The event stream tells of an upload from its start to its commit, and of downloads.
func TestEventStream(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest("GET", e.admin.URL+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Scan() // the opening comment: the subscription is in place
	go func() {
		e.upload(t, "ev/file.bin", make([]byte, 5000))
		e.get(t, "ev/file.bin")
	}()
	seen := map[string]bool{}
	for sc.Scan() && !(seen["upload_started"] && seen["upload_committed"] && seen["download_started"]) {
		line := sc.Text()
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var ev ops.Event
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				t.Fatalf("event %q: %v", data, err)
			}
			if ev.Name == "ev/file.bin" {
				seen[ev.Type] = true
			}
		}
	}
	for _, k := range []string{"upload_started", "upload_committed", "download_started"} {
		if !seen[k] {
			t.Errorf("no %s event", k)
		}
	}
}

// A path is taken from the decoded URL: "a%20b(1).txt" as a client escapes it names "a b(1).txt",
// not a file literally named with the escape.
func TestFilePathIsDecoded(t *testing.T) {
	e := newEnv(t)
	for _, f := range []struct{ name, escaped string }{{"s/a b(1).txt", "s/a%20b(1).txt"}, {"s/a%20b(1).txt", "s/a%2520b(1).txt"}} {
		u := e.public.URL + "/upload/" + f.escaped + "?v=" + hmacauth.SignV1(secret, f.name, 4)
		req, _ := http.NewRequest(http.MethodPut, u, strings.NewReader("abcd"))
		if resp, b := do(t, req); resp.StatusCode != http.StatusCreated {
			t.Fatalf("upload %q: %s %s", f.name, resp.Status, b)
		}
	}
	resp, body := e.api(t, "GET", "/api/v1/files/s/a%20b(1).txt", nil)
	want(t, resp, body, http.StatusOK)
	if !strings.Contains(string(body), `"path": "s/a b(1).txt"`) {
		t.Errorf("GET of the escaped path: %s", body)
	}
	resp, body = e.api(t, "DELETE", "/api/v1/files/s/a%20b(1).txt", nil)
	want(t, resp, body, http.StatusNoContent)
	if r, _ := e.get(t, "s/a%20b(1).txt"); r.StatusCode != http.StatusNotFound {
		t.Errorf("the file meant is still served: %s", r.Status)
	}
	if r, _ := e.get(t, "s/a%2520b(1).txt"); r.StatusCode != http.StatusOK {
		t.Errorf("the file literally named with the escape was removed: %s", r.Status)
	}
}
