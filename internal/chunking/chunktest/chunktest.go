// Package chunktest lets a test script a request's body for chunking.Uploads: what arrives,
// and what happens between two writes of it (a crash, another node taking over, a client
// going silent).
package chunktest

import (
	"bytes"
	"context"
	"io"

	"fileserver/internal/streaming"
)

// Script is a request body that writes itself into dst, bringing at most limit bytes
// (negative: no bound), and returns how many it wrote and how the request ended. Copier
// runs it.
type Script func(dst io.Writer, limit int64) (int64, error)

// Read runs the script once, bounded by len(p), for a reader that only checks whether the
// body holds anything more; whatever the script reports, the body then ends.
func (s Script) Read(p []byte) (int, error) {
	var b bytes.Buffer
	s(&b, int64(len(p)))
	return copy(p, b.Bytes()), io.EOF
}

// Copier runs Script bodies and hands every other body to Engine (the defaults when nil).
type Copier struct {
	Engine *streaming.Engine
}

// Copy implements chunking.Copier.
func (c Copier) Copy(ctx context.Context, dst io.Writer, src io.Reader, t streaming.Transfer) (streaming.Result, error) {
	if s, ok := src.(Script); ok {
		limit := t.Limit
		if limit == 0 {
			limit = -1
		}
		n, err := s(dst, limit)
		return streaming.Result{Bytes: n}, err
	}
	e := c.Engine
	if e == nil {
		e = streaming.New(streaming.Options{})
	}
	return e.Copy(ctx, dst, src, t)
}
