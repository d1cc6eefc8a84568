package handlers

import (
	"strconv"
	"testing"
)

// A flood of new client addresses within a minute costs a constant share of sweeping per
// request: the map is walked when it has doubled since the last walk, not on every request
// once it holds 10,000 clients (which made each request walk them all).
func TestLimiterSweepsAmortized(t *testing.T) {
	l := &limiter{cfg: Limits{PerClientRate: 100}, clients: map[string]*clientState{}, sweepAt: minSweepAt}
	const n = 200_000
	for i := range n {
		if _, ok := l.allowRate("198.51." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255) + "#" + strconv.Itoa(i>>16)); !ok {
			t.Fatal("a new client's first request refused")
		}
	}
	if len(l.clients) != n {
		t.Fatalf("%d clients kept, want %d (none idle for a minute)", len(l.clients), n)
	}
	if l.sweeps > 8 {
		t.Fatalf("%d walks of the client map for %d new clients, want a handful", l.sweeps, n)
	}
}

// Addresses of one IPv6 /64 (by default) are one client; IPv4 addresses, and IPv6 with a
// prefix of 128, are each their own.
func TestClientKey(t *testing.T) {
	for _, tc := range []struct {
		host   string
		prefix int
		want   string
	}{
		{"2001:db8:1:2::1", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:1:2:3", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", 64, "2001:db8:1:3::/64"},
		{"2001:db8:1:2::1", 128, "2001:db8:1:2::1"},
		{"2001:db8:1:2::1", 48, "2001:db8:1::/48"},
		{"fe80::1%eth0", 64, "fe80::/64"},
		{"203.0.113.7", 64, "203.0.113.7"},
		{"::ffff:203.0.113.7", 64, "::ffff:203.0.113.7"},
		{"not-an-address", 64, "not-an-address"},
	} {
		if got := clientKey(tc.host, tc.prefix); got != tc.want {
			t.Errorf("clientKey(%q, %d) = %q, want %q", tc.host, tc.prefix, got, tc.want)
		}
	}
}
