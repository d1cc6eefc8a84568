package streaming

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// smallBufListener shrinks each accepted connection's send buffer, so that a client that
// reads nothing fills it quickly.
type smallBufListener struct{ net.Listener }

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4096)
	}
	return c, err
}

// serveBytesServer runs ServeBytes behind Listener and reports each result.
func serveBytesServer(t *testing.T, body []byte, idle time.Duration, small bool) (addr string, results chan Result, errs chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var inner net.Listener = ln
	if small {
		inner = smallBufListener{ln}
	}
	e := New(Options{})
	results, errs = make(chan Result, 8), make(chan error, 8)
	srv := &http.Server{ConnContext: ConnContext, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		rc := http.NewResponseController(w)
		res := e.ServeBytes(w, r, http.StatusOK, body, Transfer{Protocol: "get", Direction: Download, Idle: idle, SetDeadline: rc.SetWriteDeadline})
		var err error
		for k, v := range e.Stats().Transfers() {
			if k.Result != "ok" && v.Count > 0 {
				err = errors.New(k.Result)
			}
		}
		results <- res
		errs <- err
	})}
	go srv.Serve(Listener(inner))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), results, errs
}

// A held response arrives whole and in one piece, and is counted.
func TestServeBytesOneWrite(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 4096)
	addr, results, _ := serveBytesServer(t, body, time.Minute, false)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	for i := range 3 { // keep-alive: every response on the connection
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		if !bytes.Equal(got, body) {
			t.Fatalf("response %d: %d bytes", i, len(got))
		}
		if res := <-results; res.Bytes != int64(len(body)) {
			t.Fatalf("counted %d bytes", res.Bytes)
		}
	}
}

// A client that reads nothing is cut off after the idle timeout, even though a held
// response's write needs no deadline when the socket takes it at once.
func TestServeBytesIdleClientCutOff(t *testing.T) {
	body := bytes.Repeat([]byte("y"), maxHeldBody)
	addr, results, errs := serveBytesServer(t, body, 100*time.Millisecond, true)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4096)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case res := <-results:
		if err := <-errs; err == nil || err.Error() != "idle" {
			t.Fatalf("result %+v, counted as %v; want idle", res, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeBytes still blocked on a client that reads nothing")
	}
}
