// Package audit writes the audit log: one JSON line per security-relevant event (an upload
// committed, a file removed, a takedown made or lifted, an admin sign-in that succeeded or
// failed) and, once a minute, a summary of the signatures refused. A line names who acted
// (an uploader, an admin token's name, a client address) and never carries a secret, token
// or signature. A nil *Log records nothing.
package audit

import (
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Log is an open audit log.
type Log struct {
	mu     sync.Mutex
	out    zerolog.Logger
	closer io.Closer

	refusedMu sync.Mutex
	refused   map[string]int64 // refused signatures by reason, since the last summary
	// failedSignIns counts the failed admin sign-ins since the last summary: past
	// maxFailedSignIns a period, they are only counted, so that whoever reaches the admin
	// port cannot fill the disk with lines.
	failedSignIns int64
	stop          chan struct{}
	done          chan struct{}
	closeOnce     sync.Once
}

// Open opens the audit log at path ("stdout" writes to standard output), appending to it.
// every is the period of the refused-signature summary (a minute in production).
func Open(path string, every time.Duration) (*Log, error) {
	var w io.Writer = os.Stdout
	var c io.Closer
	if path != "stdout" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		w, c = f, f
	}
	return New(w, c, every), nil
}

// New is a Log writing to w (closed by Close when c is not nil).
func New(w io.Writer, c io.Closer, every time.Duration) *Log {
	l := &Log{
		out: zerolog.New(w).With().Timestamp().Logger(), closer: c,
		refused: map[string]int64{}, stop: make(chan struct{}), done: make(chan struct{}),
	}
	go l.summarize(every)
	return l
}

// Close writes the pending summary and closes the file. Later calls do nothing.
func (l *Log) Close() error {
	if l == nil {
		return nil
	}
	var err error
	l.closeOnce.Do(func() {
		close(l.stop)
		<-l.done
		if l.closer != nil {
			err = l.closer.Close()
		}
	})
	return err
}

// event starts a line; the caller adds fields and calls write.
func (l *Log) write(kind string, add func(e *zerolog.Event)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.out.Log().Str("event", kind)
	add(e)
	e.Send()
}

// Upload is what the audit log records of a committed upload.
type Upload struct {
	Name, Uploader, SHA256, Protocol, Client string
	Size                                     int64
	// Scan is the malware scan's verdict, "" when it was not scanned.
	Scan string
}

// Committed records an upload committed.
func (l *Log) Committed(u Upload) {
	if l == nil {
		return
	}
	l.write("upload_committed", func(e *zerolog.Event) {
		e.Str("name", u.Name).Int64("size", u.Size).Str("uploader", u.Uploader).Str("sha256", u.SHA256).
			Str("protocol", u.Protocol).Str("client", u.Client)
		if u.Scan != "" {
			e.Str("scan", u.Scan)
		}
	})
}

// Infected records an upload refused because clamd found malware in it.
func (l *Log) Infected(name, uploader, client, signature string) {
	if l == nil {
		return
	}
	l.write("upload_infected", func(e *zerolog.Event) {
		e.Str("name", name).Str("uploader", uploader).Str("client", client).Str("signature", signature)
	})
}

// ScanUnavailable records an upload refused because clamd could not be asked.
func (l *Log) ScanUnavailable(name, uploader, client string) {
	if l == nil {
		return
	}
	l.write("upload_unscanned", func(e *zerolog.Event) {
		e.Str("name", name).Str("uploader", uploader).Str("client", client)
	})
}

// Removed records a file removed by an admin (by: the token's name).
func (l *Log) Removed(name string, size int64, by, client, reason string) {
	if l == nil {
		return
	}
	l.write("file_removed", func(e *zerolog.Event) {
		e.Str("name", name).Int64("size", size).Str("by", by).Str("client", client).Str("reason", reason)
	})
}

// Takedown records a takedown made (lifted false) or lifted.
func (l *Log) Takedown(id, path, prefix, reason, by, client string, removed int, lifted bool) {
	if l == nil {
		return
	}
	kind := "takedown"
	if lifted {
		kind = "takedown_lifted"
	}
	l.write(kind, func(e *zerolog.Event) {
		e.Str("id", id).Str("path", path).Str("prefix", prefix).Str("reason", reason).Str("by", by).Str("client", client)
		if !lifted {
			e.Int("removed", removed)
		}
	})
}

// UploadEnded records an upload in progress ended by an admin.
func (l *Log) UploadEnded(id, name, by, client string) {
	if l == nil {
		return
	}
	l.write("upload_ended", func(e *zerolog.Event) {
		e.Str("id", id).Str("name", name).Str("by", by).Str("client", client)
	})
}

// maxFailedSignIns is how many failed sign-ins a period writes a line for.
const maxFailedSignIns = 20

// SignIn records an admin sign-in or API authentication: ok with the token's name, or a
// failure with why (never the token given).
func (l *Log) SignIn(ok bool, name, client, via, why string) {
	if l == nil {
		return
	}
	if !ok {
		l.refusedMu.Lock()
		l.failedSignIns++
		over := l.failedSignIns > maxFailedSignIns
		l.refusedMu.Unlock()
		if over {
			return // in the period's summary
		}
	}
	kind := "admin_signin"
	if !ok {
		kind = "admin_signin_failed"
	}
	l.write(kind, func(e *zerolog.Event) {
		e.Str("client", client).Str("via", via)
		if ok {
			e.Str("by", name)
		} else {
			e.Str("reason", why)
		}
	})
}

// Refused counts a signature refused for reason; the counts leave as one summary line a
// period.
func (l *Log) Refused(reason string) {
	if l == nil {
		return
	}
	l.refusedMu.Lock()
	l.refused[reason]++
	l.refusedMu.Unlock()
}

func (l *Log) summarize(every time.Duration) {
	defer close(l.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.flushRefused()
		case <-l.stop:
			l.flushRefused()
			return
		}
	}
}

func (l *Log) flushRefused() {
	l.refusedMu.Lock()
	counts := l.refused
	l.refused = map[string]int64{}
	failed := l.failedSignIns
	l.failedSignIns = 0
	l.refusedMu.Unlock()
	if failed > maxFailedSignIns {
		l.write("admin_signins_failed", func(e *zerolog.Event) {
			e.Int64("total", failed).Int64("not_written", failed-maxFailedSignIns)
		})
	}
	if len(counts) == 0 {
		return
	}
	reasons := make([]string, 0, len(counts))
	var total int64
	for r, n := range counts {
		reasons = append(reasons, r)
		total += n
	}
	sort.Strings(reasons)
	l.write("signatures_refused", func(e *zerolog.Event) {
		d := zerolog.Dict()
		for _, r := range reasons {
			d.Int64(r, counts[r])
		}
		e.Int64("total", total).Dict("by_reason", d)
	})
}
