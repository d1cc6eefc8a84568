// Command tusclient is the client of bench/tusd.sh: the same tus 1.0 client for tusd and for
// fileserver, adding as little CPU of its own as it can.
//
//	tusclient ingest  -endpoint URL [-secret S] -file F -chunk N
//	tusclient handoff -endpoint URL [-secret S] -rounds 10
//
// ingest creates an upload of F's length (POST, v3-signed when -secret is set) and sends F in
// PATCHes of -chunk bytes (0: one PATCH of the whole file) on one keep-alive connection. Each
// PATCH body goes from the file to the socket by sendfile: the client copies no bytes in user
// space. It prints "seconds id" (creation to the last 204).
//
// handoff measures how long a HEAD takes to answer while a stale PATCH holds the upload: it
// opens a raw TCP connection, sends a PATCH header announcing -length bytes and then -sent of
// them, waits -settle, and times a HEAD on a new connection. It prints one line per round,
// "ms status offset", and the stale connection is closed after the HEAD answered.
package main

import (
	"bufio"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"fileserver/internal/hmacauth"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: tusclient ingest|handoff [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "ingest":
		err = ingest(os.Args[2:])
	case "handoff":
		err = handoff(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tusclient:", err)
		os.Exit(1)
	}
}

var client = &http.Client{Timeout: 10 * time.Minute}

// create makes a tus upload of length bytes and returns its absolute URL.
func create(endpoint, secret string, length int64) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", err
	}
	if secret != "" {
		exp := time.Now().Add(time.Hour).Unix()
		q := u.Query()
		q.Set("v3", hmacauth.SignV3(secret, http.MethodPost, u.Path, exp))
		q.Set("expires", strconv.FormatInt(exp, 10))
		u.RawQuery = q.Encode()
	}
	req, _ := http.NewRequest(http.MethodPost, u.String(), nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.FormatInt(length, 10))
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("POST %s: %s", endpoint, resp.Status)
	}
	loc, err := u.Parse(resp.Header.Get("Location"))
	if err != nil {
		return "", fmt.Errorf("location header: %w", err)
	}
	loc.RawQuery = ""
	return loc.String(), nil
}

func tusRequest(method, u string, body io.ReadCloser, n, offset int64) *http.Request {
	req, _ := http.NewRequest(method, u, nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	if method == http.MethodPatch {
		req.Body, req.ContentLength = body, n
		req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
		req.Header.Set("Content-Type", "application/offset+octet-stream")
	}
	return req
}

func ingest(args []string) error {
	fl := flag.NewFlagSet("ingest", flag.ExitOnError)
	endpoint := fl.String("endpoint", "", "tus creation URL, e.g. http://127.0.0.1:1080/files/")
	secret := fl.String("secret", "", "v3-sign the creation with this secret (fileserver)")
	file := fl.String("file", "", "file to upload")
	chunk := fl.Int64("chunk", 64<<20, "bytes per PATCH (0: the whole file in one PATCH)")
	fl.Parse(args)
	st, err := os.Stat(*file)
	if err != nil {
		return err
	}
	size := st.Size()
	step := *chunk
	if step <= 0 {
		step = size
	}
	f, err := os.Open(*file)
	if err != nil {
		return err
	}
	defer f.Close()
	start := time.Now()
	u, err := create(*endpoint, *secret, size)
	if err != nil {
		return err
	}
	pu, _ := url.Parse(u)
	conn, err := net.DialTimeout("tcp", pu.Host, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Minute))
	br := bufio.NewReader(conn)
	for off := int64(0); off < size; off += step {
		n := min(step, size-off)
		// net/http's client would read a file body to its end after Content-Length bytes (to
		// check for extra data), so the request is written by hand: the header, then the body
		// by sendfile (TCPConn.ReadFrom of a LimitedReader over the file).
		fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: %s\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: %d\r\n"+
			"Content-Type: application/offset+octet-stream\r\nContent-Length: %d\r\n\r\n", pu.RequestURI(), pu.Host, off, n)
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return err
		}
		if w, err := io.Copy(conn, &io.LimitedReader{R: f, N: n}); err != nil || w != n {
			return fmt.Errorf("PATCH at %d: sent %d of %d: %v", off, w, n, err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return fmt.Errorf("PATCH at %d: %w", off, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return fmt.Errorf("PATCH at %d: %s", off, resp.Status)
		}
		if got := resp.Header.Get("Upload-Offset"); got != strconv.FormatInt(off+n, 10) {
			return fmt.Errorf("PATCH at %d: Upload-Offset %q, want %d", off, got, off+n)
		}
	}
	fmt.Printf("%.4f %s\n", time.Since(start).Seconds(), path.Base(u))
	return nil
}

func handoff(args []string) error {
	fl := flag.NewFlagSet("handoff", flag.ExitOnError)
	endpoint := fl.String("endpoint", "", "tus creation URL")
	secret := fl.String("secret", "", "v3-sign the creation with this secret (fileserver)")
	rounds := fl.Int("rounds", 10, "rounds")
	length := fl.Int64("length", 16<<20, "upload length the stale PATCH announces")
	sent := fl.Int64("sent", 1<<20, "bytes of its body the stale PATCH sends before going silent")
	settle := fl.Duration("settle", 300*time.Millisecond, "wait between the stale bytes and the HEAD")
	timeout := fl.Duration("timeout", 60*time.Second, "longest wait for the HEAD")
	fl.Parse(args)
	body := make([]byte, *sent)
	rand.Read(body)
	head := &http.Client{Timeout: *timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	for r := 0; r < *rounds; r++ {
		u, err := create(*endpoint, *secret, *length)
		if err != nil {
			return err
		}
		pu, _ := url.Parse(u)
		conn, err := net.DialTimeout("tcp", pu.Host, 5*time.Second)
		if err != nil {
			return err
		}
		fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: %s\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"+
			"Content-Type: application/offset+octet-stream\r\nContent-Length: %d\r\n\r\n", pu.RequestURI(), pu.Host, *length)
		if _, err := conn.Write(body); err != nil {
			return err
		}
		// What the server answers the stale request (if anything) is read, not waited for.
		staleStatus := make(chan string, 1)
		go func() {
			line, err := bufio.NewReader(conn).ReadString('\n')
			if err != nil && line == "" {
				line = "closed: " + err.Error()
			}
			staleStatus <- strings.TrimSpace(line)
		}()
		time.Sleep(*settle)
		t0 := time.Now()
		resp, err := head.Do(tusRequest(http.MethodHead, u, nil, 0, 0))
		ms := float64(time.Since(t0).Microseconds()) / 1000
		status, offset := "error", "-"
		if err == nil {
			resp.Body.Close()
			status, offset = strconv.Itoa(resp.StatusCode), resp.Header.Get("Upload-Offset")
		} else if errors.Is(err, os.ErrDeadlineExceeded) || strings.Contains(err.Error(), "Timeout") {
			status = "timeout"
		}
		conn.Close()
		stale := "?"
		select {
		case stale = <-staleStatus:
		case <-time.After(time.Second):
		}
		fmt.Printf("%.3f %s %s stale=%q\n", ms, status, offset, stale)
	}
	return nil
}
