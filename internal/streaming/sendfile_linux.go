package streaming

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawSendChunk is the most one sendfile call carries when it runs without telling Go's
// scheduler (about 100 us of kernel copying on loopback): the longest the goroutine's
// processor is held and a stop-the-world waits.
const rawSendChunk = 256 << 10

// sendFile sends up to n bytes of f (n < 0: to its end) from f's current offset to c, and
// leaves f's offset after what was sent, as net.TCPConn.ReadFrom would; handled is false
// when it could not start (the caller falls back to net's own path).
//
// Why not net's own: a sendfile of a cached file to a loopback or LAN socket is CPU work in
// the kernel (the copy, and on loopback the receiver's protocol processing), a few hundred
// microseconds for a 1 MiB range. Go treats every syscall as one that may block: after
// 20 us the runtime's monitor takes the processor away from the thread, hands it and the
// waiting goroutines to another thread, and when sendfile returns the thread must win a
// processor back; under load that was two thread wake-ups per call and about a fifth of
// the server's CPU in a profile of random 1 MiB range requests, none of it spent on the
// file. So a chunk whose pages the page cache holds (cachestat says so, one cheap syscall)
// is sent with a raw syscall: the thread keeps its processor, as an nginx worker does. What
// may wait on the disk or a file server goes through the scheduler as before (see raw
// below), so a slow disk holds a processor at most for a page a read-ahead started just
// before the request, not for a whole cold download.
func sendFile(c *net.TCPConn, f *os.File, n int64) (written int64, handled bool, err error) {
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, false, nil
	}
	sock, err := c.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	file, err := f.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	s := &fileSend{off: off, n: n}
	var werr error
	cerr := file.Control(func(ffd uintptr) {
		// Raw only on a local filesystem (a network or FUSE one may sleep on its server even
		// for cached pages), only while the whole request was cached when it began (pages
		// that a read-ahead is still filling count as cached), and never again once a chunk
		// was not: past the first miss the disk is in play.
		s.ffd = ffd
		s.raw = localFS(ffd) && (n < 0 || cached(ffd, off, n))
		werr = sock.Write(s.send)
	})
	_, serr := f.Seek(s.off, io.SeekStart)
	if s.refused {
		return 0, false, nil // a source sendfile cannot read: net's path copies it
	}
	if s.err != nil {
		err = &net.OpError{Op: "sendfile", Net: "tcp", Addr: c.RemoteAddr(), Err: s.err}
	}
	for _, e := range []error{werr, cerr, serr} {
		if err == nil {
			err = e
		}
	}
	return s.written, true, err
}

// fileSend is one sendFile's progress, kept across the waits for the socket.
type fileSend struct {
	ffd     uintptr
	off, n  int64 // the file offset and what is left to send (< 0: to the end)
	written int64
	raw     bool // chunks may still go by a raw syscall
	refused bool // sendfile turned the source down before sending anything
	err     error
}

// send is the socket's write callback: false to wait until it takes more (the write
// deadline applies), true when done, refused or failed.
func (s *fileSend) send(sfd uintptr) bool {
	for s.n != 0 {
		r, errno := s.chunk(sfd)
		switch {
		case errno == syscall.EINTR:
			continue
		case errno == syscall.EAGAIN:
			return false
		case errno != 0 && s.written == 0 && refused(errno):
			s.refused = true
			return true
		case errno != 0:
			s.err = errno
			return true
		case r == 0:
			return true // end of file
		}
		s.written += r
		if s.n > 0 {
			s.n -= r
		}
	}
	return true
}

// chunk sends up to rawSendChunk bytes, raw while every chunk so far was cached.
func (s *fileSend) chunk(sfd uintptr) (int64, syscall.Errno) {
	size := int64(rawSendChunk)
	if s.n > 0 && s.n < size {
		size = s.n
	}
	s.raw = s.raw && cached(s.ffd, s.off, size)
	// Direct calls, so the pointer to the offset stays valid for the syscall's duration.
	if s.raw {
		r, _, errno := syscall.RawSyscall6(syscall.SYS_SENDFILE, sfd, s.ffd, uintptr(unsafe.Pointer(&s.off)), uintptr(size), 0, 0)
		return int64(r), errno
	}
	r, _, errno := syscall.Syscall6(syscall.SYS_SENDFILE, sfd, s.ffd, uintptr(unsafe.Pointer(&s.off)), uintptr(size), 0, 0)
	return int64(r), errno
}

// refused tells the errors with which sendfile turns down its source before sending
// anything (net's own path then falls back to a copy, and so does ReadFrom's caller).
func refused(errno syscall.Errno) bool {
	return errno == syscall.EINVAL || errno == syscall.ENOSYS || errno == syscall.EOPNOTSUPP || errno == syscall.ESPIPE
}

// localFS tells whether fd's file lives on a filesystem where a cached page is read
// without waiting on anything but memory: the local disk filesystems and tmpfs.
func localFS(fd uintptr) bool {
	var st unix.Statfs_t
	if unix.Fstatfs(int(fd), &st) != nil {
		return false
	}
	switch st.Type {
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC, unix.TMPFS_MAGIC, unix.F2FS_SUPER_MAGIC:
		return true
	}
	return false
}

// cached tells whether the page cache holds every page of f's bytes [off, off+n). A kernel
// without cachestat (before 6.5) answers ENOSYS at the cost of a syscall entry: no.
func cached(fd uintptr, off, n int64) bool {
	page := int64(os.Getpagesize())
	first, last := off/page, (off+n-1)/page
	var st unix.Cachestat_t
	if unix.Cachestat(uint(fd), &unix.CachestatRange{Off: uint64(off), Len: uint64(n)}, &st, 0) != nil {
		return false
	}
	return int64(st.Cache) >= last-first+1
}
