package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for the writer's timer and the test at once, which
// counts the writes it gets.
type lockedBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuffer) state() (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String(), l.writes
}

// Request events wait and go out together; any other event goes out at once, after them.
func TestLogWriterBatchesRequestsInOrder(t *testing.T) {
	var out lockedBuffer
	w := newLogWriter(&out, time.Hour) // no timer flush during the test
	req := w.Batched()
	for i := range 100 {
		req.Write([]byte("request " + string(rune('a'+i%26)) + "\n"))
	}
	if s, _ := out.state(); s != "" {
		t.Fatalf("request events written before a flush: %q", s)
	}
	w.Write([]byte("warning\n"))
	s, writes := out.state()
	if writes != 1 || !strings.HasSuffix(s, "warning\n") || strings.Count(s, "request") != 100 {
		t.Fatalf("after a direct event: %d writes, %q", writes, s)
	}
	req.Write([]byte("last request\n"))
	w.Close()
	if s, _ := out.state(); !strings.HasSuffix(s, "warning\nlast request\n") {
		t.Fatalf("Close did not write what waited: %q", s)
	}
}

// What waits goes out within the interval, without another event.
func TestLogWriterFlushesEveryInterval(t *testing.T) {
	var out lockedBuffer
	w := newLogWriter(&out, 20*time.Millisecond)
	defer w.Close()
	w.Batched().Write([]byte("request\n"))
	deadline := time.Now().Add(10 * time.Second)
	for s, _ := out.state(); s != "request\n"; s, _ = out.state() {
		if time.Now().After(deadline) {
			t.Fatalf("a waiting event was never written: %q", s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A full buffer is written without waiting for the interval.
func TestLogWriterWritesAFullBuffer(t *testing.T) {
	var out lockedBuffer
	w := newLogWriter(&out, time.Hour)
	defer w.Close()
	line := []byte(strings.Repeat("x", 299) + "\n")
	for range logBuffer/len(line) + 1 {
		w.Batched().Write(line)
	}
	if s, writes := out.state(); writes != 1 || len(s) < logBuffer-len(line) {
		t.Fatalf("a full buffer: %d writes of %d bytes", writes, len(s))
	}
}
