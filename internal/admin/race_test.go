package admin_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"fileserver/internal/admin"
	"fileserver/internal/app"
	"fileserver/internal/config"
	"fileserver/internal/handlers"
	"fileserver/internal/hmacauth"
	"fileserver/internal/ops"
	"fileserver/internal/storage"
	"fileserver/internal/streaming"
)

type slowStore struct {
	storage.Store
	entered, release chan struct{}
}

func (s slowStore) Create(ctx context.Context, name string) (storage.Writer, error) {
	w, err := s.Store.Create(ctx, name)
	if err != nil {
		return nil, err
	}
	return slowWriter{w, s}, nil
}

type slowWriter struct {
	storage.Writer
	s slowStore
}

// Commit stands for the time a real commit takes (fsync+rename, S3 CompleteMultipartUpload).
func (w slowWriter) Commit(ctx context.Context, m storage.Meta) (storage.Meta, error) {
	close(w.s.entered)
	<-w.s.release
	return w.Writer.Commit(ctx, m)
}

// A takedown that lands while an upload is inside its commit (after the check before it)
// still wins: the upload is answered 451 and the name is not served.
func TestTakedownDuringCommit(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Storage.Path, cfg.Storage.Fsync, cfg.Auth.Secret = dir, false, secret
	cfg.Resumable.Enabled = false
	store, err := storage.OpenLocal(dir, storage.LocalOptions{Checksum: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	book, _ := ops.OpenFileBook(store.Root(), "takedowns.json")
	o := &ops.Ops{Takedowns: ops.NewTakedowns(book), Events: ops.NewBus(), Remove: store.Delete}
	ss := slowStore{Store: store, entered: make(chan struct{}), release: make(chan struct{})}
	be := store.Backend()
	be.Store = ss
	engine := streaming.New(app.EngineOptions(cfg.Streaming))
	pub := httptest.NewUnstartedServer(nil)
	h := handlers.New(handlers.Options{Config: app.HandlerConfig(cfg), Storage: be, Engine: engine,
		Verifier: hmacauth.NewVerifier(hmacauth.Options{Secret: secret, TypeByName: handlers.TypeByName}),
		Log:      zerolog.Nop(), Listen: pub.Listener.Addr().String(), Ops: o})
	pub.Config.Handler = h
	pub.Start()
	defer pub.Close()
	a := admin.New(admin.Options{Tokens: []admin.Token{{Name: "alice", Token: token}}, Backend: store.Backend(), Engine: engine, Ops: o})
	adm := httptest.NewServer(a)
	defer func() { adm.Close(); a.Close() }()

	name := "s/race.bin"
	body := []byte("0123456789")
	done := make(chan int)
	go func() {
		req, _ := http.NewRequest(http.MethodPut, pub.URL+"/upload/"+name+"?v="+hmacauth.SignV1(secret, name, int64(len(body))), bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	select {
	case <-ss.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("upload never reached Commit")
	}
	req, _ := http.NewRequest("POST", adm.URL+"/api/v1/takedowns", bytes.NewReader([]byte(`{"path":"s/race.bin","reason":"r"}`)))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, b := do(t, req)
	want(t, resp, b, http.StatusCreated)
	close(ss.release)
	if code := <-done; code != http.StatusUnavailableForLegalReasons {
		t.Errorf("the upload whose commit the takedown overtook answered %d, want 451", code)
	}
	get, err := http.Get(pub.URL + "/upload/" + name)
	if err != nil {
		t.Fatal(err)
	}
	get.Body.Close()
	if get.StatusCode != http.StatusNotFound {
		t.Errorf("taken-down name %s answers %d after the takedown", name, get.StatusCode)
	}
}
