package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// allocated is how many bytes of disk the file at path holds.
func allocated(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Blocks * 512
}

func TestPreallocateWriter(t *testing.T) {
	l, dir := openTest(t)
	w, err := l.Create(context.Background(), "a/b.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	data := bytes.Repeat([]byte("0123456789abcdef"), 1000)
	if _, err := w.Write(data[:100]); err != nil {
		t.Fatal(err)
	}
	// Reserve more than will arrive: Commit must cut the file back to what was written.
	if err := w.(Reserver).Reserve(1 << 20); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, w.(*localWriter).tmp)
	if got := allocated(t, tmp); got < 1<<20 {
		t.Skipf("filesystem does not preallocate (%d bytes held)", got)
	}
	if _, err := w.Write(data[100:]); err != nil {
		t.Fatal(err)
	}
	meta, err := w.Commit(context.Background(), Meta{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "files/a/b.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) || meta.Size != int64(len(data)) {
		t.Fatalf("stored %d bytes (meta %d), want %d", len(got), meta.Size, len(data))
	}
	if err := w.(Reserver).Reserve(1); err == nil {
		t.Fatal("Reserve after Commit succeeded")
	}
}

func TestPreallocatePartial(t *testing.T) {
	l, dir := openTest(t)
	data := make([]byte, 3<<20)
	rand.Read(data)
	p, err := l.OpenPartial(PartialRef{ID: "up-1"}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// A first append of 1 MiB, then a second one that announces the rest.
	w, err := p.AppendAt(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data[:1<<20]); err != nil {
		t.Fatal(err)
	}
	w, err = p.AppendAt(context.Background(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.(Reserver).Reserve(2 << 20); err != nil {
		t.Fatal(err)
	}
	if got := allocated(t, filepath.Join(dir, partialDir, "up-1")); got < 3<<20 {
		t.Skipf("filesystem does not preallocate (%d bytes held)", got)
	}
	if size, _ := p.Size(); size != 3<<20 {
		t.Fatalf("size after preallocation %d, want %d", size, 3<<20)
	}
	if _, err := w.Write(data[1<<20 : 2<<20]); err != nil {
		t.Fatal(err)
	}
	// The append ends short: the caller truncates to what arrived, as after any failure.
	if err := p.Truncate(2 << 20); err != nil {
		t.Fatal(err)
	}
	w, err = p.AppendAt(context.Background(), 2<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.(Reserver).Reserve(1 << 20); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, bytes.NewReader(data[2<<20:])); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(context.Background(), "c.bin", int64(len(data)), Meta{}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "files/c.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("committed %d bytes differ from the %d uploaded", len(got), len(data))
	}
}

// TestPreallocateNoSpace: a full device is ErrNoSpace, and whatever the failed call took is
// given back; a filesystem without fallocate is not an error.
func TestPreallocateNoSpace(t *testing.T) {
	l, dir := openTest(t)
	defer func() { fallocate = fallocateReal }()
	for _, tc := range []struct {
		err  error
		want error
	}{
		{syscall.ENOSPC, ErrNoSpace},
		{syscall.EDQUOT, ErrNoSpace},
		{syscall.EOPNOTSUPP, nil},
		{syscall.EIO, ErrIO},
	} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			calls := 0
			fallocate = func(fd int, mode uint32, off, n int64) error {
				calls++
				if calls == 1 {
					return syscall.EINTR // retried
				}
				// Take part of the space, as a real allocation that runs out midway does.
				if err := fallocateReal(fd, mode, off, n/2); err != nil {
					t.Skip("filesystem does not preallocate:", err)
				}
				return tc.err
			}
			w, err := l.Create(context.Background(), "x.bin")
			if err != nil {
				t.Fatal(err)
			}
			defer w.Abort()
			w.Write([]byte("hello"))
			err = w.(Reserver).Reserve(64 << 20)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Reserve: %v, want %v", err, tc.want)
			}
			if calls != 2 {
				t.Fatalf("fallocate called %d times, want 2 (EINTR retried)", calls)
			}
			if tc.want != nil {
				st, err := os.Stat(filepath.Join(dir, w.(*localWriter).tmp))
				if err != nil {
					t.Fatal(err)
				}
				if st.Size() != 5 {
					t.Fatalf("file size %d after a failed preallocation, want 5", st.Size())
				}
			}
		})
	}
}

var fallocateReal = fallocate

// BenchmarkPartialIngest writes 256 MiB durably through a partial upload's writer in 1 MiB
// writes (the plain PUT path under the HTTP layer), with and without preallocating first.
// Compare with benchstat; -benchtime 5x keeps it bounded.
func BenchmarkPartialIngest(b *testing.B) {
	const size = 256 << 20
	buf := make([]byte, 1<<20)
	rand.Read(buf)
	for _, prealloc := range []bool{false, true} {
		b.Run(fmt.Sprintf("prealloc=%v", prealloc), func(b *testing.B) {
			l, err := OpenLocal(b.TempDir(), LocalOptions{Fsync: true, Preallocate: prealloc})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			b.SetBytes(size)
			cpu0 := cpuTime()
			for i := 0; b.Loop(); i++ {
				id := fmt.Sprintf("b-%d", i)
				p, err := l.OpenPartial(PartialRef{ID: id}, true)
				if err != nil {
					b.Fatal(err)
				}
				w, err := p.AppendAt(context.Background(), 0)
				if err != nil {
					b.Fatal(err)
				}
				if prealloc {
					if err := w.(Reserver).Reserve(size); err != nil {
						b.Fatal(err)
					}
				}
				for n := 0; n < size; n += len(buf) {
					if _, err := w.Write(buf); err != nil {
						b.Fatal(err)
					}
				}
				name := id + ".bin"
				if _, err := p.Commit(context.Background(), name, size, Meta{}); err != nil {
					b.Fatal(err)
				}
				p.Close()
				if err := l.Delete(context.Background(), name); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric((cpuTime()-cpu0).Seconds()/(float64(b.N)*size/1e9), "cpu-s/GB")
		})
	}
}

// cpuTime is the user and system time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
