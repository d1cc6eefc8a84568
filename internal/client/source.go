package client

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
)

// source is what an upload sends: a file, any range of which can be sent again, or a stream
// (a pipe), of which only the chunk in flight is kept for a retry.
type source interface {
	// size is the total length, or -1 while it is not known (a stream before its end).
	size() int64
	// chunk returns up to n bytes from off (fewer only at the end of the data), and whether
	// they reach the end.
	chunk(off, n int64) (r io.Reader, got int64, last bool, err error)
	// sum is the hex SHA-256 of all the data; for a stream, known once its end was read.
	sum() string
}

// fileSource is a regular file: its digest is computed before anything is sent.
type fileSource struct {
	f   *os.File
	n   int64
	sha string
}

func newFileSource(f *os.File) (*fileSource, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, st.Size())); err != nil {
		return nil, err
	}
	return &fileSource{f: f, n: st.Size(), sha: hex.EncodeToString(h.Sum(nil))}, nil
}

func (s *fileSource) size() int64 { return s.n }
func (s *fileSource) sum() string { return s.sha }

func (s *fileSource) chunk(off, n int64) (io.Reader, int64, bool, error) {
	n = min(n, s.n-off)
	return io.NewSectionReader(s.f, off, n), n, off+n == s.n, nil
}

// errCannotReplay: the server asks for bytes of a stream that are no longer kept.
var errCannotReplay = errors.New("client: the server needs bytes of the stream that were already dropped; start a new upload")

// streamSource reads a stream once, keeping the bytes from the last offset asked for: a
// chunk can be sent again until a later one is asked for, which the server acknowledged the
// earlier one for. Memory is one chunk.
type streamSource struct {
	r     io.Reader
	h     hash.Hash
	buf   []byte // bytes from start on, read and not yet dropped
	start int64
	eof   bool
}

func newStreamSource(r io.Reader) *streamSource { return &streamSource{r: r, h: sha256.New()} }

func (s *streamSource) size() int64 {
	if s.eof {
		return s.start + int64(len(s.buf))
	}
	return -1
}

func (s *streamSource) sum() string {
	if !s.eof {
		return ""
	}
	return hex.EncodeToString(s.h.Sum(nil))
}

func (s *streamSource) chunk(off, n int64) (io.Reader, int64, bool, error) {
	if off < s.start {
		return nil, 0, false, fmt.Errorf("%w (asked for offset %d, kept from %d)", errCannotReplay, off, s.start)
	}
	// Bytes before off are acknowledged: drop them, reading (and hashing) past any the
	// stream has not given yet (a resumed upload: the same data piped again).
	if k := min(off-s.start, int64(len(s.buf))); k > 0 {
		s.buf, s.start = s.buf[k:], s.start+k
	}
	for s.start < off && !s.eof {
		if err := s.fill(min(off-s.start, 1<<20)); err != nil {
			return nil, 0, false, err
		}
		k := min(off-s.start, int64(len(s.buf)))
		s.buf, s.start = s.buf[k:], s.start+k
	}
	if s.start < off {
		return nil, 0, false, fmt.Errorf("client: the stream ended at %d, before the server's offset %d", s.start, off)
	}
	if err := s.fill(n); err != nil {
		return nil, 0, false, err
	}
	got := min(n, int64(len(s.buf)))
	return io.NewSectionReader(bytesReaderAt(s.buf[:got]), 0, got), got, s.eof && got == int64(len(s.buf)), nil
}

// fill reads until buf holds n bytes or the stream ends.
func (s *streamSource) fill(n int64) error {
	for int64(len(s.buf)) < n && !s.eof {
		if cap(s.buf) < int(n) {
			s.buf = append(make([]byte, 0, n), s.buf...)
		}
		m, err := s.r.Read(s.buf[len(s.buf):n])
		s.h.Write(s.buf[len(s.buf) : len(s.buf)+m])
		s.buf = s.buf[:len(s.buf)+m]
		if err == io.EOF {
			s.eof = true
		} else if err != nil {
			return err
		}
	}
	return nil
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
