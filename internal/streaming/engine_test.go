package streaming

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCopyMovesEveryByteAndCounts(t *testing.T) {
	e := New(Options{BufferSize: 64 << 10})
	src := bytes.Repeat([]byte("abcdefgh"), 100_000)
	var dst bytes.Buffer
	res, err := e.Copy(context.Background(), &dst, bytes.NewReader(src), Transfer{Protocol: "v1", Direction: Upload})
	if err != nil || res.Bytes != int64(len(src)) || !bytes.Equal(dst.Bytes(), src) {
		t.Fatalf("copy: %v, %d bytes", err, res.Bytes)
	}
	if res.BufferSize != 64<<10 {
		t.Fatalf("buffer size %d", res.BufferSize)
	}
	got := e.Stats().Transfers()[TransferKey{"v1", Upload, "ok"}]
	if got.Count != 1 || got.Bytes != int64(len(src)) {
		t.Fatalf("stats %+v", got)
	}
	if e.Pool().InUse() != 0 || e.Stats().InFlight(Upload) != 0 {
		t.Fatal("buffer or in-flight count leaked")
	}
}

func TestCopyLimit(t *testing.T) {
	e := New(Options{BufferSize: 4096})
	for _, tc := range []struct {
		size, limit int
		err         error
	}{
		{100, 100, nil}, {101, 100, ErrTooLarge}, {4096, 4096, nil}, {10000, 4095, ErrTooLarge}, {0, 1, nil},
	} {
		var dst bytes.Buffer
		res, err := e.Copy(context.Background(), &dst, bytes.NewReader(make([]byte, tc.size)),
			Transfer{Direction: Upload, Limit: int64(tc.limit)})
		if tc.size <= tc.limit {
			tc.limit = tc.size
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("size %d limit %d: err %v, want %v", tc.size, tc.limit, err, tc.err)
		}
		if res.Bytes > int64(tc.limit) {
			t.Errorf("size %d: wrote %d bytes past the limit %d", tc.size, res.Bytes, tc.limit)
		}
	}
	if e.Stats().Transfers()[TransferKey{"", Upload, "too_large"}].Count != 2 {
		t.Error("too_large transfers not counted")
	}
}

func TestCopyStopsOnContextEnd(t *testing.T) {
	e := New(Options{BufferSize: 4096})
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	go func() {
		pw.Write(make([]byte, 100))
		cancel()
		pw.Write(make([]byte, 100))
		pw.Close()
	}()
	_, err := e.Copy(ctx, io.Discard, pr, Transfer{Direction: Upload})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

// A client that stops sending is cut off by the idle deadline on its connection.
func TestCopyIdleTimeout(t *testing.T) {
	e := New(Options{BufferSize: 4096})
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go b.Write([]byte("some bytes then silence"))
	start := time.Now()
	res, err := e.Copy(context.Background(), io.Discard, a, Transfer{
		Direction: Upload, Idle: 100 * time.Millisecond, SetDeadline: a.SetReadDeadline,
	})
	if !errors.Is(err, ErrIdle) {
		t.Fatalf("err %v, want ErrIdle", err)
	}
	if res.Bytes != int64(len("some bytes then silence")) {
		t.Fatalf("bytes %d", res.Bytes)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("idle cut-off never came")
	}
}

// readFromRecorder is a ResponseWriter with ReadFrom that records what it was handed, the way
// net/http's response hands an *os.File to sendfile.
type readFromRecorder struct {
	*httptest.ResponseRecorder
	sources []string
}

func (r *readFromRecorder) ReadFrom(src io.Reader) (int64, error) {
	kind := "other"
	switch s := src.(type) {
	case *os.File:
		kind = "file"
	case *io.LimitedReader:
		if _, ok := s.R.(*os.File); ok {
			kind = "limited-file"
		}
	}
	r.sources = append(r.sources, kind)
	return io.Copy(r.ResponseRecorder, src)
}

func TestServeContentKeepsSendfilePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	data := bytes.Repeat([]byte("0123456789"), 1_000_000) // 10 MB: several segments
	os.WriteFile(path, data, 0o600)
	for _, rng := range []string{"", "bytes=5-9000004"} {
		f, _ := os.Open(path)
		e := New(Options{})
		rec := &readFromRecorder{ResponseRecorder: httptest.NewRecorder()}
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		res := e.ServeContent(rec, req, "", time.Now(), f, Transfer{Protocol: "get", Direction: Download})
		f.Close()
		want := data
		if rng != "" {
			want = data[5:9000005]
		}
		if !bytes.Equal(rec.Body.Bytes(), want) || res.Bytes != int64(len(want)) {
			t.Fatalf("range %q: body %d bytes, counted %d, want %d", rng, rec.Body.Len(), res.Bytes, len(want))
		}
		if len(rec.sources) < 2 {
			t.Fatalf("range %q: %d ReadFrom calls, want one per segment", rng, len(rec.sources))
		}
		for _, s := range rec.sources {
			if s != "limited-file" {
				t.Fatalf("range %q: ReadFrom got %s, want an *os.File under one io.LimitedReader", rng, strings.Join(rec.sources, ","))
			}
		}
	}
}
