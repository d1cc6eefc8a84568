package streaming

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Over a real connection through Listener, where the header is held and leaves flagged as
// followed by the file (MSG_MORE), every response arrives whole and at once: whole files,
// ranges from anywhere, HEAD (no body follows) and one after another on a kept-alive
// connection. A header left waiting for bytes that never come would show as a timeout.
func TestServeContentOverConnection(t *testing.T) {
	path, data := patternFile(t, 3<<20+17)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := New(Options{})
	srv := &http.Server{ConnContext: ConnContext, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(path)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		rc := http.NewResponseController(w)
		e.ServeContent(w, r, "", time.Now(), f, Transfer{Protocol: "get", Direction: Download, Idle: time.Minute, SetDeadline: rc.SetWriteDeadline})
	})}
	go srv.Serve(Listener(ln))
	t.Cleanup(func() { srv.Close() })

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for _, tc := range []struct {
		method, rng string
		status      int
		want        []byte
	}{
		{"GET", "", 200, data},
		{"GET", "bytes=1-1", 206, data[1:2]},
		{"HEAD", "", 200, nil},
		{"GET", "bytes=4095-1052671", 206, data[4095:1052672]},
		{"GET", "bytes=-5", 206, data[len(data)-5:]},
		{"HEAD", "bytes=10-20", 206, nil},
		{"GET", "bytes=3145000-", 206, data[3145000:]},
	} {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		req := fmt.Sprintf("%s /f HTTP/1.1\r\nHost: x\r\n", tc.method)
		if tc.rng != "" {
			req += "Range: " + tc.rng + "\r\n"
		}
		if _, err := io.WriteString(c, req+"\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: tc.method})
		if err != nil {
			t.Fatalf("%s %q: %v", tc.method, tc.rng, err)
		}
		got, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != tc.status || !bytes.Equal(got, tc.want) {
			t.Fatalf("%s %q: status %d, %d bytes (%v); want %d, %d bytes", tc.method, tc.rng, resp.StatusCode, len(got), err, tc.status, len(tc.want))
		}
	}
}

// patternFile writes size bytes of a pattern that no shifted copy of itself matches over a
// whole range, so a byte sent from the wrong offset shows.
func patternFile(t *testing.T, size int) (path string, data []byte) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "f")
	data = make([]byte, size)
	for i := range data {
		data[i] = byte(i*13 + i>>8)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, data
}
