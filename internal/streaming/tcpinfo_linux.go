package streaming

import (
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// connRTT reads the smoothed RTT of a TCP connection with getsockopt(TCP_INFO).
func connRTT(c net.Conn) (time.Duration, bool) {
	sc, ok := rawConn(c).(syscall.Conn)
	if !ok {
		return 0, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var info *unix.TCPInfo
	var serr error
	if err := raw.Control(func(fd uintptr) {
		info, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil || serr != nil || info == nil {
		return 0, false
	}
	return time.Duration(info.Rtt) * time.Microsecond, info.Rtt > 0
}

// rttSupported says whether connRTT can answer on this platform.
const rttSupported = true
