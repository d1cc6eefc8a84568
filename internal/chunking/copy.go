package chunking

import (
	"context"
	"errors"
	"io"
	"time"

	"fileserver/internal/streaming"
)

// Copier moves a request's body into an upload's data. *streaming.Engine is one.
type Copier interface {
	Copy(ctx context.Context, dst io.Writer, src io.Reader, t streaming.Transfer) (streaming.Result, error)
}

// copyBody moves req's body into dst through the copier, reading at most limit bytes
// (negative: no bound); a longer body is ErrTooLarge. ctx is the request's writing context
// (see startWriting): when a newer request or the shutdown cuts this one off, the copy ends
// with that cause, whatever the body read reported.
func (u *Uploads) copyBody(ctx context.Context, dst io.Writer, req AppendRequest, limit int64) (int64, error) {
	if req.Body == nil {
		return 0, nil
	}
	if limit == 0 {
		return 0, EmptyBody(req.Body)
	}
	t := req.Transfer
	t.Direction = streaming.Upload
	t.Limit = max(limit, 0)
	res, err := u.opts.Copier.Copy(ctx, dst, req.Body, t)
	if req.Copied != nil {
		req.Copied(res)
	}
	expire := func() {
		// Keep the connection's read deadline expired: the copy may have renewed it, and
		// net/http must not wait to drain a client that is cut off or silent.
		if t.SetDeadline != nil {
			t.SetDeadline(time.Now())
		}
	}
	if cause := context.Cause(ctx); ctx.Err() != nil && (cause == ErrHandedOff || cause == ErrShutdown) {
		expire()
		return res.Bytes, cause
	}
	switch {
	case errors.Is(err, streaming.ErrTooLarge):
		err = ErrTooLarge
	case errors.Is(err, streaming.ErrIdle):
		expire()
	}
	return res.Bytes, err
}

// EmptyBody checks that a body that may carry nothing more carries nothing: a byte of it is
// ErrTooLarge.
func EmptyBody(body io.Reader) error {
	var b [1]byte
	n, err := body.Read(b[:])
	if n > 0 {
		return ErrTooLarge
	}
	if err != nil && err != io.EOF {
		return err
	}
	return nil
}
