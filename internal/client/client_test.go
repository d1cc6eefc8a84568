package client_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"fileserver/internal/app"
	"fileserver/internal/chunking"
	"fileserver/internal/client"
	"fileserver/internal/config"
	"fileserver/internal/handlers"
	"fileserver/internal/hmacauth"
	"fileserver/internal/storage"
	"fileserver/internal/streaming"
	"fileserver/internal/testkit"
)

const secret = "client-test-secret-0123456789-0123456789"

// server is a real fileserver on a fixed loopback address that can be stopped and started
// again over the same data directory, as a restart would.
type server struct {
	t    *testing.T
	addr string
	dir  string
	srv  *http.Server
	st   *storage.Local
	// heads counts the HEAD requests the server answered.
	heads atomic.Int64
}

func startServer(t *testing.T, addr, dir string, mods ...func(*config.Config)) *server {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Storage.Path, cfg.Auth.Secret = dir, secret
	for _, m := range mods {
		m(&cfg)
	}
	st, err := storage.OpenLocal(dir, storage.LocalOptions{Fsync: true, Checksum: true})
	if err != nil {
		t.Fatal(err)
	}
	sessions, _ := chunking.NewDirStore(st.Root(), true)
	engine := streaming.New(streaming.Options{BufferSize: 64 << 10})
	h := handlers.New(handlers.Options{
		Config: app.HandlerConfig(cfg), Storage: st.Backend(), Engine: engine,
		Verifier: hmacauth.NewVerifier(hmacauth.Options{Secret: secret}),
		Log:      zerolog.Nop(),
		Uploads:  chunking.New(sessions, st.Backend(), chunking.Options{TTL: time.Hour, Copier: engine}),
		Listen:   ln.Addr().String(),
	})
	s := &server{t: t, addr: ln.Addr().String(), dir: dir, st: st}
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			s.heads.Add(1)
		}
		h.ServeHTTP(w, r)
	})}
	go s.srv.Serve(ln)
	t.Cleanup(s.stop)
	return s
}

func (s *server) stop() {
	s.srv.Close()
	s.st.Close()
}

func (s *server) endpoint() string {
	exp := time.Now().Add(time.Hour).Unix()
	return "http://" + s.addr + "/files/?v3=" + hmacauth.SignV3(secret, "POST", "/files/", exp) +
		"&expires=" + strconv.FormatInt(exp, 10)
}

func randomFile(t *testing.T, size int) (string, string) {
	t.Helper()
	data := testkit.Random(t, size)
	p := filepath.Join(t.TempDir(), "payload.bin")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, testkit.SHA256(data)
}

func fetch(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	return b
}

func TestUploadBothProtocolsVerified(t *testing.T) {
	s := startServer(t, "", t.TempDir())
	path, sum := randomFile(t, 5<<20+123)
	for _, proto := range []string{client.Tus, client.IETF} {
		u := &client.Upload{Endpoint: s.endpoint(), Protocol: proto, ChunkSize: 1 << 20}
		res, err := u.Run(context.Background(), path)
		if err != nil {
			t.Fatalf("%s: %v", proto, err)
		}
		if !res.Verified || res.SHA256 != sum || res.FileURL == "" {
			t.Fatalf("%s: result %+v", proto, res)
		}
		if got := sha256.Sum256(fetch(t, res.FileURL)); hex.EncodeToString(got[:]) != sum {
			t.Fatalf("%s: served file differs", proto)
		}
	}
}

// A new upload's offset is known (0): the client sends its first chunk right after the
// creation, without asking where the upload stands. An empty file's upload still asks: it
// may be complete from its creation on.
func TestUploadAsksNothingAfterCreate(t *testing.T) {
	s := startServer(t, "", t.TempDir())
	path, _ := randomFile(t, 3<<20)
	for _, proto := range []string{client.Tus, client.IETF} {
		before := s.heads.Load()
		u := &client.Upload{Endpoint: s.endpoint(), Protocol: proto, ChunkSize: 1 << 20}
		if res, err := u.Run(context.Background(), path); err != nil || !res.Verified {
			t.Fatalf("%s: %+v %v", proto, res, err)
		}
		if n := s.heads.Load() - before; n != 0 {
			t.Errorf("%s: %d HEAD requests for a fresh upload, want none", proto, n)
		}
	}
	empty := filepath.Join(t.TempDir(), "empty.bin")
	os.WriteFile(empty, nil, 0o600)
	for _, proto := range []string{client.Tus, client.IETF} {
		u := &client.Upload{Endpoint: s.endpoint(), Protocol: proto}
		if res, err := u.Run(context.Background(), empty); err != nil || res.Size != 0 || len(fetch(t, res.FileURL)) != 0 {
			t.Fatalf("%s, empty file: %+v %v", proto, res, err)
		}
	}
}

// cutProxy forwards TCP to target but cuts the first `cuts` connections after `after` bytes
// in one direction (requests when upstream is set, responses otherwise): a network that
// drops mid-transfer.
type cutProxy struct {
	ln   net.Listener
	cuts atomic.Int32
}

func newCutProxy(t *testing.T, target string, cuts int32, after int64, upstream bool) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return cutProxyOn(t, ln, target, cuts, after, upstream)
}

// startBehindCutProxy starts a server whose public URL is a cutProxy in front of it (as a
// reverse proxy would be), so the upload URLs it hands out lead through the proxy.
func startBehindCutProxy(t *testing.T, cuts int32, after int64, upstream bool) (*server, *cutProxy) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "", t.TempDir(), func(c *config.Config) { c.Server.PublicURL = "http://" + ln.Addr().String() })
	return s, cutProxyOn(t, ln, s.addr, cuts, after, upstream)
}

// cutProxyOn is newCutProxy on a listener of the caller's.
func cutProxyOn(t *testing.T, ln net.Listener, target string, cuts int32, after int64, upstream bool) *cutProxy {
	p := &cutProxy{ln: ln}
	p.cuts.Store(cuts)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			limit := int64(1 << 62)
			if p.cuts.Add(-1) >= 0 {
				limit = after
			}
			upLimit, downLimit := int64(1<<62), limit
			if upstream {
				upLimit, downLimit = limit, 1<<62
			}
			go func() { io.CopyN(up, c, upLimit); c.Close(); up.Close() }()
			go func() { io.CopyN(c, up, downLimit); c.Close(); up.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

// A network that drops every request after 700 KB, three times over: the client asks the
// server's offset each time and finishes with the right bytes.
func TestUploadSurvivesDroppedConnections(t *testing.T) {
	s, proxy := startBehindCutProxy(t, 3, 700_000, true)
	path, sum := randomFile(t, 3<<20)
	endpoint := "http://" + proxy.addr() + s.endpoint()[len("http://"+s.addr):]
	u := &client.Upload{Endpoint: endpoint, ChunkSize: 2 << 20,
		Retry:  client.Retry{Attempts: 10, Base: time.Millisecond, Max: 10 * time.Millisecond},
		Client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}
	res, err := u.Run(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Verified || res.SHA256 != sum {
		t.Fatalf("result %+v", res)
	}
	if proxy.cuts.Load() >= 0 {
		t.Fatal("the proxy never cut a connection: the test proved nothing")
	}
}

// The server restarts in the middle of an upload: the client waits it out and continues
// from the durable offset.
func TestUploadSurvivesServerRestart(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, "", dir)
	path, sum := randomFile(t, 4<<20)
	var created atomic.Bool
	progressed := make(chan struct{})
	u := &client.Upload{Endpoint: s.endpoint(), ChunkSize: 512 << 10,
		Retry: client.Retry{Attempts: 50, Base: 20 * time.Millisecond, Max: 100 * time.Millisecond},
		OnCreate: func(string) {
			if created.CompareAndSwap(false, true) {
				close(progressed)
			}
		}}
	done := make(chan error, 1)
	var res client.Result
	go func() {
		var err error
		res, err = u.Run(context.Background(), path)
		done <- err
	}()
	<-progressed
	time.Sleep(20 * time.Millisecond)
	s.stop()
	time.Sleep(100 * time.Millisecond)
	startServer(t, s.addr, dir)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("upload did not finish after the restart")
	}
	if !res.Verified || res.SHA256 != sum {
		t.Fatalf("result %+v", res)
	}
}

func TestDownloadResumesWithIfRange(t *testing.T) {
	s := startServer(t, "", t.TempDir())
	path, sum := randomFile(t, 3<<20)
	res, err := (&client.Upload{Endpoint: s.endpoint()}).Run(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	// Cut the response side: a proxy that closes downloads after 1 MB.
	cutter := newCutProxy(t, s.addr, 2, 1_000_000, false)
	fileURL := "http://" + cutter.addr() + res.FileURL[len("http://"+s.addr):]
	out := filepath.Join(t.TempDir(), "out.bin")
	d := &client.Download{URL: fileURL, Retry: client.Retry{Attempts: 5, Base: time.Millisecond, Max: 5 * time.Millisecond},
		Client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}
	got, err := d.Run(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	if got.SHA256 != sum || !got.Verified {
		t.Fatalf("download %+v", got)
	}
	if b, _ := os.ReadFile(out); len(b) != 3<<20 {
		t.Fatalf("file is %d bytes", len(b))
	}
	if _, err := os.Stat(out + ".part"); !os.IsNotExist(err) {
		t.Fatal("part file left behind")
	}
	if cutter.cuts.Load() >= 0 {
		t.Fatal("no download was cut: the test proved nothing")
	}
}

// A saved part whose validator no longer matches is thrown away, not glued to new bytes.
func TestDownloadRestartsWhenTheFileChanged(t *testing.T) {
	s := startServer(t, "", t.TempDir())
	path, sum := randomFile(t, 100_000)
	res, err := (&client.Upload{Endpoint: s.endpoint()}).Run(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out.bin")
	os.WriteFile(out+".part", bytes.Repeat([]byte("x"), 5000), 0o644)
	os.WriteFile(out+".part.json", []byte(`{"url":"`+res.FileURL+`","etag":"\"stale\""}`), 0o644)
	got, err := (&client.Download{URL: res.FileURL}).Run(context.Background(), out)
	if err != nil || got.SHA256 != sum {
		t.Fatalf("download after a change: %+v %v", got, err)
	}
}

// A download cut short by a server that gives no strong validator is retried from the start:
// bytes already saved cannot be told to belong to the file the next answer carries, so no
// range is asked for without an If-Range that can hold.
func TestDownloadRetryWithoutValidatorStartsOver(t *testing.T) {
	v1, v2 := bytes.Repeat([]byte("1"), 200_000), bytes.Repeat([]byte("2"), 200_000)
	var requests, unvalidated atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" && r.Header.Get("If-Range") == "" {
			unvalidated.Add(1)
		}
		if requests.Add(1) == 1 {
			// The first answer is cut off halfway; the file changes before the retry.
			w.Header().Set("Content-Length", strconv.Itoa(len(v1)))
			w.Write(v1[:len(v1)/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(v2))
	}))
	t.Cleanup(srv.Close)
	out := filepath.Join(t.TempDir(), "out.bin")
	d := &client.Download{URL: srv.URL + "/f.bin", Retry: client.Retry{Attempts: 3, Base: time.Millisecond, Max: time.Millisecond}}
	if _, err := d.Run(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, v2) {
		t.Fatalf("the download joined two versions of the file (%d requests)", requests.Load())
	}
	if n := unvalidated.Load(); n != 0 {
		t.Fatalf("%d range requests without a validator", n)
	}
}

func TestPermanentErrorsStop(t *testing.T) {
	s := startServer(t, "", t.TempDir())
	path, _ := randomFile(t, 10)
	u := &client.Upload{Endpoint: "http://" + s.addr + "/files/", Retry: client.Retry{Attempts: 3, Base: time.Millisecond, Max: time.Millisecond}}
	_, err := u.Run(context.Background(), path)
	var se *client.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusForbidden {
		t.Fatalf("unsigned creation: %v, want a 403 without retries", err)
	}
}
