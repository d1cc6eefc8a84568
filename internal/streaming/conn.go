package streaming

import (
	"context"
	"net"
)

type connKey struct{}

// ConnContext is meant for http.Server.ConnContext: it stashes the connection in every
// request's context, so the engine can ask the kernel for its RTT (TCP_INFO on Linux).
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

func connFrom(ctx context.Context) net.Conn {
	c, _ := ctx.Value(connKey{}).(net.Conn)
	return c
}

// rawConn finds the socket under TLS and other wrappers that expose NetConn.
func rawConn(c net.Conn) net.Conn {
	for i := 0; i < 4; i++ {
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = u.NetConn()
	}
	return c
}
