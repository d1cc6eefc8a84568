package streaming

import (
	"bytes"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// sendFile sends exactly what it is asked for from the file's offset and leaves the offset
// after it, whether the pages are cached (raw syscall) or were just dropped from the cache
// (through the scheduler), and whether or not the client keeps up (EAGAIN, then a wait).
func TestSendFileCachedAndNot(t *testing.T) {
	path, data := patternFile(t, 5<<20+123)
	for _, tc := range []struct {
		name      string
		from, n   int64
		dropCache bool
	}{
		{"cached range", 100, 3 << 20, false},
		{"cached to the end", 4095, -1, false},
		{"uncached range", 7, 2<<20 + 1, true},
		{"uncached to the end", 1 << 20, -1, true},
		{"past the end", int64(len(data)) - 10, 1 << 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if tc.dropCache {
				f.Sync()
				unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
			}
			if _, err := f.Seek(tc.from, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			want := data[tc.from:]
			if tc.n >= 0 && tc.n < int64(len(want)) {
				want = want[:tc.n]
			}
			client, server := tcpPair(t)
			got := make(chan []byte)
			go func() {
				client.SetDeadline(time.Now().Add(20 * time.Second))
				b, _ := io.ReadAll(client)
				got <- b
			}()
			written, handled, err := sendFile(server.(*net.TCPConn), f, tc.n)
			if !handled || err != nil || written != int64(len(want)) {
				t.Fatalf("sent %d (handled %v, %v), want %d", written, handled, err, len(want))
			}
			server.Close()
			if b := <-got; !bytes.Equal(b, want) {
				t.Fatalf("client got %d bytes, not the %d asked for", len(b), len(want))
			}
			if off, _ := f.Seek(0, io.SeekCurrent); off != tc.from+int64(len(want)) {
				t.Fatalf("file offset %d after sending, want %d", off, tc.from+int64(len(want)))
			}
		})
	}
}

// A client that stops reading is cut off by the write deadline, not waited on for ever.
func TestSendFileHonoursWriteDeadline(t *testing.T) {
	path, _ := patternFile(t, 64<<20)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, server := tcpPair(t)
	server.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	written, _, err := sendFile(server.(*net.TCPConn), f, -1)
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("after %d bytes to a client reading nothing: %v, want a timeout", written, err)
	}
	if off, _ := f.Seek(0, io.SeekCurrent); off != written {
		t.Fatalf("file offset %d, want %d (what was sent)", off, written)
	}
}

// tcpPair is a connected client and server on loopback, closed when the test ends.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

// A source sendfile cannot read (here an eventfd, which has no splice_read) is not an error
// of the download: ReadFrom falls back to net's path, which copies it, as net does itself.
func TestSendFileRefusedSourceFallsBack(t *testing.T) {
	fd, err := unix.Eventfd(3, unix.EFD_CLOEXEC)
	if err != nil {
		t.Skip(err)
	}
	f := os.NewFile(uintptr(fd), "eventfd")
	defer f.Close()
	client, server := tcpPair(t)
	n, err := (&coalescingConn{TCPConn: server.(*net.TCPConn)}).ReadFrom(&io.LimitedReader{R: f, N: 8})
	server.Close()
	got, _ := io.ReadAll(client)
	if err != nil || n != 8 || len(got) != 8 {
		t.Fatalf("ReadFrom: %d, %v; client got %d bytes; want the 8 bytes by a copy", n, err, len(got))
	}
}
