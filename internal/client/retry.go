package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"time"
)

// Retry bounds how a transfer retries after a failure.
type Retry struct {
	// Attempts is how many consecutive failures without progress are tolerated.
	Attempts int
	// Base and Max bound the exponential backoff between attempts.
	Base, Max time.Duration
}

// DefaultRetry suits a phone that changes networks: many quick tries, capped waits.
var DefaultRetry = Retry{Attempts: 10, Base: 250 * time.Millisecond, Max: 15 * time.Second}

// wait sleeps before attempt n (0-based) with full jitter, or returns the context's error.
func (r Retry) wait(ctx context.Context, n int) error {
	d := r.Base << min(n, 16)
	if d > r.Max || d <= 0 {
		d = r.Max
	}
	d = time.Duration(rand.Int64N(int64(d)) + 1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// StatusError is a response the client cannot continue from.
type StatusError struct {
	Op     string
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	msg := e.Op + ": " + http.StatusText(e.Status)
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// permanent reports whether an error will not go away by retrying: a 4xx other than a
// conflict over the offset (which a fresh offset resolves) or a timeout.
func permanent(err error) bool {
	var se *StatusError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Status {
	case http.StatusConflict, http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return se.Status >= 400 && se.Status < 500
}
