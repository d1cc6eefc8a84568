package main

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// logWriter writes the log to out with two faces. Request events (Batched) wait in memory
// and go out together, once a buffer fills or every interval: one write for many requests
// instead of one per request, which is what a busy server's log costs most. Every other
// event (Write: start, stop, warnings, errors) goes out at once, after what waits, so the
// order of lines is the order of events.
type logWriter struct {
	mu   sync.Mutex
	buf  *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

// logBuffer is how much a logWriter holds before it writes: about 200 request events.
const logBuffer = 64 << 10

// newLogWriter starts a logWriter that writes what waits at least every interval (> 0).
func newLogWriter(out io.Writer, interval time.Duration) *logWriter {
	w := &logWriter{buf: bufio.NewWriterSize(out, logBuffer), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				w.mu.Lock()
				w.buf.Flush()
				w.mu.Unlock()
			}
		}
	}()
	return w
}

// Write writes p at once, after the events that wait.
func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if err == nil {
		err = w.buf.Flush()
	}
	return n, err
}

// Batched is the face for request events: they wait (see logWriter).
func (w *logWriter) Batched() io.Writer { return batched{w} }

type batched struct{ w *logWriter }

func (b batched) Write(p []byte) (int, error) {
	b.w.mu.Lock()
	defer b.w.mu.Unlock()
	return b.w.buf.Write(p)
}

// Close writes what waits and stops the timer.
func (w *logWriter) Close() error {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Flush()
}
