package streaming

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// write is write(2), or send(2) with MSG_MORE when more data follows at once: the kernel
// then keeps a partial segment back until that data joins it, as TCP_CORK would, without
// the two setsockopt calls around it.
func write(fd int, p []byte, more bool) (int, error) {
	if more {
		return unix.SendmsgN(fd, p, nil, nil, unix.MSG_MORE)
	}
	return syscall.Write(fd, p)
}
