// Command ingestsplice is a benchmark prototype, not part of the server: a minimal HTTP/1.1
// server that takes a known-length PUT straight off the socket, to measure how fast durable
// ingest could go without net/http's request body in between. It answers only
// "PUT /<anything>/<name>" with a Content-Length (Expect: 100-continue honoured), one request
// per connection, and stores the body durably the way fileserver does: a temporary file,
// sync_file_range every 8 MiB with a wait on the window two steps back, fdatasync, rename into
// place and a directory fsync before the 201.
//
// Modes:
//
//	splice  socket -> pipe -> file with splice(2) (os.File.ReadFrom on a limited TCP
//	        connection), in 8 MiB steps; no byte enters user space, so nothing is hashed
//	rw      read(2) into a -buf buffer and write(2) it, optionally hashing with SHA-256
//	        (-hash), the same work fileserver does minus net/http
//
// Usage: ingestsplice -listen 127.0.0.1:PORT -dir DIR [-mode splice|rw] [-buf 1MiB] [-hash]
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

const window = 8 << 20

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (loopback only)")
	dir := flag.String("dir", "", "data directory")
	mode := flag.String("mode", "splice", "splice or rw")
	bufSize := flag.Int("buf", 1<<20, "rw: read/write buffer size in bytes")
	doHash := flag.Bool("hash", false, "rw: SHA-256 the body as it streams")
	flag.Parse()
	if *dir == "" || (*mode != "splice" && *mode != "rw") {
		flag.Usage()
		os.Exit(2)
	}
	if err := os.MkdirAll(filepath.Join(*dir, "tmp"), 0o750); err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(*dir, "files"), 0o750); err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	s := &server{dir: *dir, mode: *mode, buf: *bufSize, hash: *doHash}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go s.serve(c.(*net.TCPConn))
	}
}

type server struct {
	dir, mode string
	buf       int
	hash      bool
}

func (s *server) serve(c *net.TCPConn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 64<<10)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	status, msg := s.handle(c, br, req)
	fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, http.StatusText(status), len(msg), msg)
}

func (s *server) handle(c *net.TCPConn, br *bufio.Reader, req *http.Request) (int, string) {
	if req.Method != http.MethodPut {
		// Liveness probes (GET /) get a 200 so scripts can wait for the port.
		return http.StatusOK, ""
	}
	n := req.ContentLength
	if n < 0 || len(req.TransferEncoding) > 0 {
		return http.StatusLengthRequired, "known-length PUT only\n"
	}
	name := path.Base(req.URL.Path)
	if name == "." || name == "/" || strings.HasPrefix(name, ".") {
		return http.StatusBadRequest, "bad name\n"
	}
	if strings.EqualFold(req.Header.Get("Expect"), "100-continue") {
		if _, err := io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
			return http.StatusInternalServerError, err.Error()
		}
	}
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "up-")
	if err != nil {
		return http.StatusInternalServerError, err.Error()
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	defer f.Close()
	fl := &flusher{fd: int(f.Fd())}
	var sum string
	if s.mode == "splice" {
		err = s.spliceBody(f, c, br, n, fl)
	} else {
		sum, err = s.copyBody(f, c, br, n, fl)
	}
	if err != nil {
		return http.StatusInternalServerError, err.Error() + "\n"
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return http.StatusInternalServerError, err.Error()
	}
	dst := filepath.Join(s.dir, "files", name)
	if err := os.Rename(tmp, dst); err != nil {
		return http.StatusInternalServerError, err.Error()
	}
	for _, d := range []string{filepath.Dir(dst), filepath.Join(s.dir, "tmp")} {
		if err := syncDir(d); err != nil {
			return http.StatusInternalServerError, err.Error()
		}
	}
	return http.StatusCreated, sum
}

// spliceBody writes what bufio already read, then splices the rest window by window.
func (s *server) spliceBody(f *os.File, c *net.TCPConn, br *bufio.Reader, n int64, fl *flusher) error {
	head := min(int64(br.Buffered()), n)
	if head > 0 {
		b, _ := br.Peek(int(head))
		if _, err := f.Write(b); err != nil {
			return err
		}
		br.Discard(int(head))
	}
	done := head
	for done < n {
		step := min(window-done%window, n-done)
		// *os.File.ReadFrom from a limited *net.TCPConn is splice(2) through a 1 MiB pipe.
		m, err := f.ReadFrom(&io.LimitedReader{R: c, N: step})
		done += m
		if err != nil {
			return err
		}
		if m < step {
			return io.ErrUnexpectedEOF
		}
		if err := fl.wrote(done); err != nil {
			return err
		}
	}
	return nil
}

// copyBody is the read/write loop: fill the buffer as far as one read goes, write it.
func (s *server) copyBody(f *os.File, c *net.TCPConn, br *bufio.Reader, n int64, fl *flusher) (string, error) {
	var h hash.Hash
	if s.hash {
		h = sha256.New()
	}
	var src io.Reader = io.MultiReader(io.LimitReader(br, int64(br.Buffered())), c)
	src = io.LimitReader(src, n)
	buf := make([]byte, s.buf)
	var done int64
	for done < n {
		m, err := src.Read(buf)
		if m > 0 {
			if _, werr := f.Write(buf[:m]); werr != nil {
				return "", werr
			}
			if h != nil {
				h.Write(buf[:m])
			}
			done += int64(m)
			if ferr := fl.wrote(done); ferr != nil {
				return "", ferr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
	}
	if done != n {
		return "", io.ErrUnexpectedEOF
	}
	if h == nil {
		return "", nil
	}
	return hex.EncodeToString(h.Sum(nil)) + "\n", nil
}

// flusher is storage's rangeFlusher: start writeback of every complete 8 MiB window and wait
// on the window two steps back.
type flusher struct {
	fd              int
	started, waited int64
}

func (r *flusher) wrote(total int64) error {
	for total-r.started >= window {
		if err := unix.SyncFileRange(r.fd, r.started, window, unix.SYNC_FILE_RANGE_WRITE); err != nil {
			return err
		}
		r.started += window
		if lag := r.started - 2*window; lag > r.waited {
			err := unix.SyncFileRange(r.fd, r.waited, lag-r.waited,
				unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
			if err != nil {
				return err
			}
			r.waited = lag
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, unix.EINVAL) {
		return err
	}
	return nil
}
