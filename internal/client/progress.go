package client

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Progress draws a one-line progress bar with rate and ETA. A nil *Progress draws nothing.
type Progress struct {
	mu    sync.Mutex
	out   io.Writer
	label string
	total int64
	start time.Time
	last  time.Time
	base  int64 // bytes already there when this run started (a resume)
	done  int64
}

// NewProgress draws to out (a terminal) for a transfer of total bytes (-1 unknown).
func NewProgress(out io.Writer, label string, total int64) *Progress {
	return &Progress{out: out, label: label, total: total, start: time.Now()}
}

// Start records where this run begins, so the rate counts only this run's bytes.
func (p *Progress) Start(offset int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.base, p.done, p.start = offset, offset, time.Now()
	p.mu.Unlock()
}

// Set records the bytes done and redraws at most ten times a second.
func (p *Progress) Set(done int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = done
	if time.Since(p.last) < 100*time.Millisecond && done != p.total {
		return
	}
	p.last = time.Now()
	p.draw()
}

func (p *Progress) draw() {
	elapsed := time.Since(p.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(p.done-p.base) / elapsed
	}
	line := fmt.Sprintf("%s %s", p.label, human(p.done))
	if p.total > 0 {
		frac := float64(p.done) / float64(p.total)
		const width = 24
		n := int(frac * width)
		line = fmt.Sprintf("%s [%s%s] %5.1f%% %s/%s", p.label, strings.Repeat("=", n), strings.Repeat(" ", width-n),
			frac*100, human(p.done), human(p.total))
		if rate > 0 && p.done < p.total {
			eta := time.Duration(float64(p.total-p.done) / rate * float64(time.Second))
			line += " ETA " + eta.Round(time.Second).String()
		}
	}
	line += fmt.Sprintf(" %s/s", human(int64(rate)))
	fmt.Fprintf(p.out, "\r%-100s", line)
}

// Finish ends the line.
func (p *Progress) Finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.draw()
	fmt.Fprintln(p.out)
	p.mu.Unlock()
}

func human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
