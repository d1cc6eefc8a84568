//go:build !linux

package streaming

import "syscall"

// write is write(2); the hint that more follows is Linux's.
func write(fd int, p []byte, _ bool) (int, error) { return syscall.Write(fd, p) }
