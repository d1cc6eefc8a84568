//go:build !linux

package streaming

import (
	"net"
	"time"
)

// connRTT is unknown where the kernel's TCP_INFO is not available; the policy then sizes
// buffers from throughput alone.
func connRTT(net.Conn) (time.Duration, bool) { return 0, false }

// rttSupported says whether connRTT can answer on this platform.
const rttSupported = false
