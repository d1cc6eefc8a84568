package handlers

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// proxies are the reverse proxies whose forwarding headers are believed.
type proxies []netip.Prefix

func (p proxies) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, pre := range p {
		if pre.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the address of the client behind a request: the connection's peer, unless
// the peer is a trusted proxy, in which case the forwarding chain is walked from the right
// past every trusted proxy and the first other address is the client. An untrusted peer's
// X-Forwarded-For is ignored, so a client cannot choose the address limits and logs see.
func (p proxies) clientAddr(r *http.Request) string {
	if len(p) == 0 {
		return peerHost(r) // no proxy is trusted: nothing to parse
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || len(p) == 0 || !p.trusted(peer) {
		return host
	}
	chain := forwardedChain(r)
	for i := len(chain) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(chain[i])
		if err != nil {
			break // an unparsable hop: stop believing the chain here
		}
		if !p.trusted(a) {
			return a.Unmap().String()
		}
		host = a.Unmap().String()
	}
	return host
}

// forwardedChain lists the forwarded-for addresses, client first: from X-Forwarded-For, or
// from the for= parameters of Forwarded (RFC 7239) when that is absent.
func forwardedChain(r *http.Request) []string {
	var chain []string
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		for _, v := range xff {
			for a := range strings.SplitSeq(v, ",") {
				chain = append(chain, strings.TrimSpace(a))
			}
		}
		return chain
	}
	for _, v := range r.Header.Values("Forwarded") {
		for elem := range strings.SplitSeq(v, ",") {
			for pair := range strings.SplitSeq(elem, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if !ok || !strings.EqualFold(k, "for") {
					continue
				}
				val = strings.Trim(val, `"`)
				if strings.HasPrefix(val, "[") { // [v6]:port
					val = strings.TrimPrefix(val, "[")
					val, _, _ = strings.Cut(val, "]")
				} else if h, _, err := net.SplitHostPort(val); err == nil {
					val = h
				}
				chain = append(chain, val)
			}
		}
	}
	return chain
}
