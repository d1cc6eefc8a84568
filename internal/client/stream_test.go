package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"fileserver/internal/client"
)

// onlyReader hides every method but Read: the upload cannot seek, size or re-read it.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// A stream of unknown length (a pipe) goes up over both protocols, whatever its length is
// against the chunk size: shorter, a multiple, between multiples, empty.
func TestUploadStream(t *testing.T) {
	s := startServer(t, "", t.TempDir())
	const chunk = 256 << 10
	for _, proto := range []string{client.Tus, client.IETF} {
		for _, size := range []int{1000, 3 * chunk, 3*chunk + 777, 0} {
			data := make([]byte, size)
			rand.Read(data)
			u := &client.Upload{Endpoint: s.endpoint(), Protocol: proto, ChunkSize: chunk, Name: "piped.bin"}
			res, err := u.RunStream(context.Background(), onlyReader{bytes.NewReader(data)})
			if err != nil {
				t.Fatalf("%s, %d bytes: %v", proto, size, err)
			}
			sum := sha256.Sum256(data)
			if res.Size != int64(size) || res.SHA256 != hex.EncodeToString(sum[:]) || !res.Verified {
				t.Fatalf("%s, %d bytes: result %+v", proto, size, res)
			}
			if got := fetch(t, res.FileURL); !bytes.Equal(got, data) {
				t.Fatalf("%s, %d bytes: served %d bytes that differ", proto, size, len(got))
			}
		}
	}
}

// Dropped connections: the chunk in flight is kept and sent again from the server's offset.
func TestUploadStreamSurvivesDroppedConnections(t *testing.T) {
	s, proxy := startBehindCutProxy(t, 3, 700_000, true)
	data := make([]byte, 3<<20)
	rand.Read(data)
	endpoint := "http://" + proxy.addr() + s.endpoint()[len("http://"+s.addr):]
	u := &client.Upload{Endpoint: endpoint, ChunkSize: 1 << 20,
		Retry:  client.Retry{Attempts: 10, Base: time.Millisecond, Max: 10 * time.Millisecond},
		Client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}
	res, err := u.RunStream(context.Background(), onlyReader{bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if !res.Verified || res.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("result %+v", res)
	}
	if proxy.cuts.Load() >= 0 {
		t.Fatal("the proxy never cut a connection: the test proved nothing")
	}
}

// A resumed stream upload skips what the server has, reading it from the stream again; a
// stream that ends before the server's offset is an error, not a wrong file.
func TestUploadStreamResume(t *testing.T) {
	s := startServer(t, "", t.TempDir())
	data := make([]byte, 2<<20+5)
	rand.Read(data)
	// A first run that dies after its first chunk: the stream breaks.
	broken := io.MultiReader(bytes.NewReader(data[:1<<20]), errReader{errors.New("pipe broke")})
	var uploadURL string
	u := &client.Upload{Endpoint: s.endpoint(), ChunkSize: 1 << 20, OnCreate: func(loc string) { uploadURL = loc },
		Retry: client.Retry{Attempts: 1, Base: time.Millisecond, Max: time.Millisecond}}
	if _, err := u.RunStream(context.Background(), onlyReader{broken}); err == nil {
		t.Fatal("a broken stream uploaded")
	}
	short := &client.Upload{Endpoint: s.endpoint(), UploadURL: uploadURL}
	if _, err := short.RunStream(context.Background(), onlyReader{bytes.NewReader(data[:1000])}); err == nil {
		t.Fatal("a stream shorter than the server's offset was taken")
	}
	again := &client.Upload{Endpoint: s.endpoint(), UploadURL: uploadURL}
	res, err := again.RunStream(context.Background(), onlyReader{bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	if got := fetch(t, res.FileURL); !bytes.Equal(got, data) || !res.Verified {
		t.Fatalf("resumed stream: %d bytes served, verified %v", len(got), res.Verified)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
