package scan

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"fileserver/internal/testkit"
	"fileserver/internal/testpeers"
)

func TestVerdicts(t *testing.T) {
	bad := testkit.Random(t, 70_000)
	sock := testpeers.Clamd(t, testpeers.Signature{Name: "Fileserver.Test.Bad", Content: bad})
	s := New(Options{Network: "unix", Address: sock, MaxSize: 1 << 20})
	ctx := context.Background()
	// Streamed in pieces of odd sizes, as an upload arrives.
	st := s.Start(ctx)
	for rest := bad; len(rest) > 0; {
		n := min(len(rest), 12345)
		st.Write(rest[:n])
		rest = rest[n:]
	}
	var ie *InfectedError
	if v, err := st.Verdict(); v != Infected || !errors.Is(err, ErrInfected) || !errors.As(err, &ie) || !strings.HasPrefix(ie.Signature, "Fileserver.Test.Bad") {
		t.Fatalf("the signature's file: %s %v", v, err)
	}
	clean := append(bytes.Clone(bad), 1) // one byte more: another file
	if v, err := s.Scan(ctx, bytes.NewReader(clean), int64(len(clean))); v != Clean || err != nil {
		t.Fatalf("a clean file: %s %v", v, err)
	}
	big := testkit.Random(t, 2<<20)
	if v, err := s.Scan(ctx, bytes.NewReader(big), -1); v != Skipped || err != nil {
		t.Fatalf("a file over MaxSize: %s %v", v, err)
	}
	if s.Counts.Infected.Load() != 1 || s.Counts.Clean.Load() != 1 || s.Counts.Skipped.Load() != 1 {
		t.Fatalf("counts %d infected %d clean %d skipped", s.Counts.Infected.Load(), s.Counts.Clean.Load(), s.Counts.Skipped.Load())
	}
}

// With clamd unreachable, uploads are refused (the default), or let through and counted.
func TestUnreachable(t *testing.T) {
	gone := filepath.Join(t.TempDir(), "no.sock")
	for _, accept := range []bool{false, true} {
		s := New(Options{Network: "unix", Address: gone, Accept: accept})
		v, err := s.Scan(context.Background(), strings.NewReader("hello"), 5)
		if v != Unavailable || accept != (err == nil) || !accept && !errors.Is(err, ErrUnavailable) {
			t.Errorf("accept=%v: %v", accept, err)
		}
		if s.Counts.Unavailable.Load() != 1 {
			t.Errorf("accept=%v: unavailable counted %d", accept, s.Counts.Unavailable.Load())
		}
	}
}

// An upload over clamd's own StreamMaxLength is skipped (clamd says so as it closes the
// stream), not taken for an unreachable scanner.
func TestOverClamdsOwnLimit(t *testing.T) {
	sock := testpeers.ClamdWith(t, "StreamMaxLength 1M\n")
	s := New(Options{Network: "unix", Address: sock})
	for _, size := range []int{2 << 20, 8 << 20} {
		v, err := s.Scan(context.Background(), bytes.NewReader(testkit.Random(t, size)), int64(size))
		if v != Skipped || err != nil {
			t.Errorf("%d bytes over clamd's 1 MiB: %s %v", size, v, err)
		}
	}
}
