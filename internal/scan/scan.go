// Package scan has uploads scanned for malware by ClamAV's clamd, over its INSTREAM command:
// the bytes go to clamd while they are received (or, for a finished resumable upload, as
// they are read back once), and the verdict comes before the commit.
package scan

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"time"
)

// ErrInfected: clamd found malware; the upload is refused and nothing of it kept.
var ErrInfected = errors.New("the file contains malware")

// ErrUnavailable: clamd could not be asked, and the policy is to refuse uploads then.
var ErrUnavailable = errors.New("the malware scanner is unavailable")

// Options configure a Scanner.
type Options struct {
	// Network and Address reach clamd: "unix" and a socket path, or "tcp" and host:port.
	Network, Address string
	// MaxSize is the largest upload scanned; larger ones pass unscanned (counted). 0: any.
	MaxSize int64
	// Accept lets uploads through (counted) when clamd cannot be asked; off refuses them.
	Accept bool
	// Timeout bounds a connection's silence: a write or the verdict (default 60 s).
	Timeout time.Duration
}

// Counts are the verdicts since start.
type Counts struct {
	Clean, Infected, Skipped, Unavailable atomic.Int64
}

// Scanner scans through clamd. A nil *Scanner scans nothing.
type Scanner struct {
	o      Options
	Counts Counts
}

// New makes a Scanner.
func New(o Options) *Scanner {
	if o.Timeout <= 0 {
		o.Timeout = time.Minute
	}
	return &Scanner{o: o}
}

// chunkMax is the largest INSTREAM chunk sent at once.
const chunkMax = 1 << 20

// Stream is one INSTREAM scan: Write sends bytes to clamd, Verdict ends it. Once the stream
// has failed (clamd went away) or grew past MaxSize, writes are dropped and the verdict says
// so: the upload's own writes never fail because of the scan.
type Stream struct {
	s      *Scanner
	conn   net.Conn
	n      int64
	err    error // the first failure; the verdict follows the policy
	tooBig bool
	// broken: a write failed; clamd may have answered before it closed (its own size
	// limit), so the reply is still read.
	broken bool
	lenBuf [4]byte
}

// Start opens a scan. A clamd that cannot be reached is remembered in the stream (its
// verdict follows the policy), so callers need not care here.
func (s *Scanner) Start(ctx context.Context) *Stream {
	st := &Stream{s: s}
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, s.o.Network, s.o.Address)
	if err != nil {
		st.err = err
		return st
	}
	st.conn = conn
	conn.SetWriteDeadline(time.Now().Add(s.o.Timeout))
	if _, err := io.WriteString(conn, "zINSTREAM\x00"); err != nil {
		st.fail(err)
	}
	return st
}

func (st *Stream) fail(err error) {
	if st.err == nil {
		st.err = err
	}
	if st.conn != nil {
		st.conn.Close()
		st.conn = nil
	}
}

// Write sends p to clamd; it always reports len(p) written.
func (st *Stream) Write(p []byte) (int, error) {
	n := len(p)
	st.n += int64(n)
	if st.conn == nil || st.broken {
		return n, nil
	}
	if st.s.o.MaxSize > 0 && st.n > st.s.o.MaxSize {
		st.tooBig = true
		st.conn.Close()
		st.conn = nil
		return n, nil
	}
	st.conn.SetWriteDeadline(time.Now().Add(st.s.o.Timeout))
	for len(p) > 0 {
		c := p[:min(len(p), chunkMax)]
		binary.BigEndian.PutUint32(st.lenBuf[:], uint32(len(c)))
		if _, err := st.conn.Write(st.lenBuf[:]); err != nil {
			st.broken, st.err = true, err
			return n, nil
		}
		if _, err := st.conn.Write(c); err != nil {
			st.broken, st.err = true, err
			return n, nil
		}
		p = p[len(c):]
	}
	return n, nil
}

// Abort ends a scan whose upload failed.
func (st *Stream) Abort() {
	if st.conn != nil {
		st.conn.Close()
		st.conn = nil
	}
}

// The verdicts a scan ends with.
const (
	Clean       = "clean"
	Infected    = "infected"
	Skipped     = "skipped"     // too large to scan (MaxSize, or clamd's own limit)
	Unavailable = "unavailable" // clamd could not be asked
)

// Verdict ends the stream and says what clamd found (Clean, Infected, Skipped, Unavailable)
// and whether the upload may be committed: nil (clean, skipped, or unavailable under the
// accepting policy), an error matching ErrInfected (naming what clamd found), or one
// matching ErrUnavailable.
func (st *Stream) Verdict() (string, error) {
	s := st.s
	if st.tooBig {
		s.Counts.Skipped.Add(1)
		return Skipped, nil
	}
	if st.conn != nil && !st.broken {
		st.conn.SetDeadline(time.Now().Add(s.o.Timeout))
		if _, err := st.conn.Write([]byte{0, 0, 0, 0}); err != nil {
			st.broken, st.err = true, err
		}
	}
	if st.conn == nil {
		return s.unavailable(st.err)
	}
	if st.broken {
		st.conn.SetReadDeadline(time.Now().Add(5 * time.Second)) // what clamd said before it closed
	}
	defer st.Abort()
	reply, err := bufio.NewReader(st.conn).ReadString(0)
	if err != nil && reply == "" {
		if st.err != nil {
			err = st.err
		}
		return s.unavailable(err)
	}
	reply = strings.TrimSpace(strings.TrimSuffix(reply, "\x00"))
	switch {
	case strings.HasSuffix(reply, " OK"):
		s.Counts.Clean.Add(1)
		return Clean, nil
	case strings.HasSuffix(reply, " FOUND"):
		s.Counts.Infected.Add(1)
		sig := strings.TrimSuffix(strings.TrimPrefix(reply, "stream: "), " FOUND")
		return Infected, &InfectedError{Signature: sig}
	case strings.Contains(reply, "size limit exceeded"):
		s.Counts.Skipped.Add(1) // clamd's own StreamMaxLength: it did not see the whole file
		return Skipped, nil
	}
	return s.unavailable(errors.New("clamd answered " + reply))
}

// InfectedError names what clamd found; it matches ErrInfected.
type InfectedError struct{ Signature string }

func (e *InfectedError) Error() string { return ErrInfected.Error() + ": " + e.Signature }

// Is makes errors.Is(err, ErrInfected) true.
func (e *InfectedError) Is(target error) bool { return target == ErrInfected }

func (s *Scanner) unavailable(err error) (string, error) {
	s.Counts.Unavailable.Add(1)
	if s.o.Accept {
		return Unavailable, nil
	}
	return Unavailable, fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// Scan sends all of r to clamd and returns the verdict (see Stream.Verdict). A file larger
// than MaxSize (size, when known; -1 otherwise) is not read at all.
func (s *Scanner) Scan(ctx context.Context, r io.Reader, size int64) (string, error) {
	if s.o.MaxSize > 0 && size > s.o.MaxSize {
		s.Counts.Skipped.Add(1)
		return Skipped, nil
	}
	st := s.Start(ctx)
	buf := make([]byte, 256<<10)
	if _, err := io.CopyBuffer(st, r, buf); err != nil {
		st.Abort()
		return "", fmt.Errorf("scan: read the upload back: %w", err)
	}
	return st.Verdict()
}

// Fits tells whether an upload of size bytes (-1 unknown) is to be scanned at all.
func (s *Scanner) Fits(size int64) bool { return s.o.MaxSize <= 0 || size < 0 || size <= s.o.MaxSize }
