package handlers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"fileserver/internal/chunking"
	"fileserver/internal/streaming"
)

// What the resumable protocols (tus, the IETF draft, Content-Range PUT) share: moving a
// request's body into a session through the engine, and cutting that request off when a
// newer one takes the session over.

// appendRequest builds the chunking request that copies r's body through the engine. The
// returned context is the one the copy runs under; a newer request for the same upload
// cancels it and expires the connection's read deadline, so a body read blocked on a silent
// client returns at once.
func (s *Server) appendRequest(w http.ResponseWriter, r *http.Request, offset int64, protocol string) chunking.AppendRequest {
	ctx, cancel := context.WithCancelCause(r.Context())
	rc := http.NewResponseController(w)
	body := &lastRead{r: r.Body}
	body.last.Store(time.Now().UnixNano())
	info := infoFrom(r.Context())
	if info != nil {
		info.protocol = protocol
	}
	return chunking.AppendRequest{
		Offset: offset,
		Length: -1,
		Copy: func(dst io.Writer, limit int64) (int64, error) {
			if limit == 0 {
				return 0, emptyBody(r.Body)
			}
			res, err := s.engine.Copy(ctx, dst, body, streaming.Transfer{
				Protocol:    protocol,
				Direction:   streaming.Upload,
				Client:      remoteHost(r),
				Limit:       max(limit, 0),
				Idle:        s.cfg.ReadIdleTimeout,
				SetDeadline: rc.SetReadDeadline,
			})
			if info != nil {
				info.bytesIn += res.Bytes
				info.bufferSize = res.BufferSize
			}
			if cause := context.Cause(ctx); ctx.Err() != nil && (cause == chunking.ErrHandedOff || cause == chunking.ErrShutdown) {
				// Whatever the read reported, the reason is the hand-off or the shutdown.
				rc.SetReadDeadline(time.Now())
				return res.Bytes, cause
			}
			if errors.Is(err, streaming.ErrTooLarge) {
				err = chunking.ErrTooLarge
			}
			if errors.Is(err, streaming.ErrIdle) {
				// Keep the deadline expired: net/http must not wait to drain a silent client.
				rc.SetReadDeadline(time.Now())
			}
			return res.Bytes, err
		},
		Cancel: func(cause error) {
			cancel(cause)
			rc.SetReadDeadline(time.Now())
		},
		Idle: body.idle,
	}
}

// lastRead notes when a request body last delivered bytes: a request that has received
// nothing for a while is stale, and another request for its upload may cut it off.
type lastRead struct {
	r    io.Reader
	last atomic.Int64 // unix nanoseconds
}

func (l *lastRead) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if n > 0 {
		l.last.Store(time.Now().UnixNano())
	}
	return n, err
}

func (l *lastRead) idle() time.Duration { return time.Since(time.Unix(0, l.last.Load())) }

// emptyBody checks that a body that may carry no more bytes indeed has none.
func emptyBody(body io.Reader) error {
	var b [1]byte
	n, err := body.Read(b[:])
	if n > 0 {
		return chunking.ErrTooLarge
	}
	if err != nil && err != io.EOF {
		return err
	}
	return nil
}

// chunkSize is the append size recommended to this client. On object storage it is a whole
// number of parts: an append that ends inside a part leaves a tail that is written out as an
// object of its own and read back by the next append.
func (s *Server) chunkSize(r *http.Request) int64 {
	n := s.engine.ChunkSize(remoteHost(r))
	if part := s.backend.PartSize; part > 0 {
		n = max(1, (n+part-1)/part) * part
	}
	return n
}

// httpDate renders t for Upload-Expires and similar headers.
func httpDate(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
