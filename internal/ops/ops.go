package ops

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"fileserver/internal/audit"
	"fileserver/internal/chunking"
	"fileserver/internal/scan"
	"fileserver/internal/streaming"
)

// Ops is what the upload and download paths tell the operator's side. A nil *Ops, or one
// with nil parts, does nothing for the parts it lacks.
type Ops struct {
	Audit     *audit.Log
	Events    *Bus
	Takedowns *Takedowns
	Counts    *Counts
	// Remove deletes a stored file: a commit that a takedown overtook is undone with it.
	Remove func(ctx context.Context, name string) error
	// Checks judge every committed file before it is announced (its type against its
	// content, say); one that refuses has removed the file, and its error is the upload's. A
	// check may fill in what it learnt (the scan's verdict).
	Checks []func(ctx context.Context, c *Commit) error
	// Scanner has uploads scanned for malware before their commit; nil: none are.
	Scanner *scan.Scanner

	mu    sync.Mutex
	rates map[string]rate // by upload id: the last progress sample
}

type rate struct {
	at    time.Time
	bytes int64 // the upload's offset then
	bps   float64
}

// Commit is an upload committed to a file.
type Commit struct {
	ID, Name, Uploader, SHA256, Protocol, Client string
	// ContentType is the type the upload was declared with.
	ContentType string
	Size        int64
	// Scan is the malware scan's verdict (scan.Clean...), "" when it was not scanned.
	Scan string
}

// Check refuses (ErrBlocked) an upload to a name a takedown covers.
func (o *Ops) Check(ctx context.Context, name string) error {
	if o == nil {
		return nil
	}
	return o.Takedowns.Check(ctx, name)
}

// Committed records an upload committed: the audit log, and the event. A takedown made
// while the commit ran (after the check before it) undoes it: the file is removed and the
// answer is ErrBlocked. Either this check sees the takedown, or the takedown was recorded
// after it and its own removal finds the committed file; no order leaves it stored.
func (o *Ops) Committed(ctx context.Context, c Commit) error {
	if o == nil {
		return nil
	}
	for _, check := range o.Checks {
		if err := check(ctx, &c); err != nil {
			return err
		}
	}
	if o.Takedowns.Blocked(ctx, c.Name) && o.Remove != nil {
		if err := o.Remove(ctx, c.Name); err == nil {
			o.Events.Publish(Event{Type: "file_removed", Name: c.Name, Size: c.Size})
		}
		return ErrBlocked
	}
	o.Audit.Committed(audit.Upload{Name: c.Name, Uploader: c.Uploader, SHA256: c.SHA256, Protocol: c.Protocol, Client: c.Client,
		Size: c.Size, Scan: c.Scan})
	o.Events.Publish(Event{Type: "upload_committed", ID: c.ID, Name: c.Name, Uploader: c.Uploader, Protocol: c.Protocol,
		Client: c.Client, Size: c.Size, Offset: c.Size, Length: c.Size})
	return nil
}

// StartScan opens the malware scan of an upload about to stream (size: its length, -1
// unknown); nil when scanning is off or the upload is too large to be scanned.
func (o *Ops) StartScan(ctx context.Context, size int64) *scan.Stream {
	if o == nil || o.Scanner == nil || !o.Scanner.Fits(size) {
		return nil
	}
	return o.Scanner.Start(ctx)
}

// Verdict ends a scan st streamed (nil: none) and records a refusal in the audit log; an
// error refuses the upload c.
func (o *Ops) Verdict(st *scan.Stream, c Commit) (string, error) {
	if st == nil {
		return "", nil
	}
	v, err := st.Verdict()
	o.auditScan(c, v, err)
	return v, err
}

// ScanStored scans an upload's bytes read back from r (size bytes), before or after its
// commit, and records a refusal in the audit log.
func (o *Ops) ScanStored(ctx context.Context, r io.Reader, size int64, c Commit) (string, error) {
	if o == nil || o.Scanner == nil {
		return "", nil
	}
	v, err := o.Scanner.Scan(ctx, r, size)
	o.auditScan(c, v, err)
	return v, err
}

// ScanHook is how resumable uploads are scanned before their commit (chunking.Options.Scan):
// nil when scanning is off. An infected upload is refused for good (chunking.ErrRefused).
func (o *Ops) ScanHook() func(ctx context.Context, r io.Reader, size int64, s *chunking.Session) (string, error) {
	if o == nil || o.Scanner == nil {
		return nil
	}
	return func(ctx context.Context, r io.Reader, size int64, s *chunking.Session) (string, error) {
		v, err := o.ScanStored(ctx, r, size, Commit{ID: s.ID, Name: s.Target, Uploader: s.Uploader})
		if errors.Is(err, scan.ErrInfected) {
			err = errors.Join(chunking.ErrRefused, err)
		}
		return v, err
	}
}

func (o *Ops) auditScan(c Commit, verdict string, err error) {
	var ie *scan.InfectedError
	switch {
	case errors.As(err, &ie):
		o.Audit.Infected(c.Name, c.Uploader, c.Client, ie.Signature)
		o.Events.Publish(Event{Type: "upload_failed", ID: c.ID, Name: c.Name, Client: c.Client, Error: "malware: " + ie.Signature})
	case err != nil && verdict == scan.Unavailable:
		o.Audit.ScanUnavailable(c.Name, c.Uploader, c.Client)
	}
}

// Downloaded counts a download of name, and tells the event stream.
func (o *Ops) Downloaded(name, client string) {
	if o == nil {
		return
	}
	o.Counts.Add(name)
	if o.Events != nil {
		o.Events.Publish(Event{Type: "download_started", Name: name, Client: client})
	}
}

// Refused counts a refused signature for the audit log's summary.
func (o *Ops) Refused(reason string) {
	if o != nil {
		o.Audit.Refused(reason)
	}
}

// Began implements streaming.Watcher.
func (o *Ops) Began(f *streaming.Flight) {
	if o.Events != nil {
		o.Events.Publish(flightEvent("upload_started", f, f.Offset, 0))
	}
}

// Ended implements streaming.Watcher: a transfer that ended with an error is a failed
// upload (a resumable one may be resumed from where it stands).
func (o *Ops) Ended(f *streaming.Flight, err error) {
	o.mu.Lock()
	delete(o.rates, f.ID)
	o.mu.Unlock()
	if err == nil || o.Events == nil {
		return
	}
	e := flightEvent("upload_failed", f, f.Offset+f.Bytes(), 0)
	e.Error = errorText(err)
	o.Events.Publish(e)
}

func flightEvent(kind string, f *streaming.Flight, offset int64, bps float64) Event {
	return Event{Type: kind, ID: f.ID, Name: f.Name, Protocol: f.Protocol, Client: f.Client, Uploader: f.Uploader,
		Offset: offset, Length: f.Length, Rate: bps}
}

// errorText is what an event says of a failure: the reason, not a path or an address.
func errorText(err error) string {
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, streaming.ErrTooLarge):
		return "too large"
	case errors.Is(err, streaming.ErrIdle):
		return "idle"
	case errors.Is(err, streaming.ErrBusy):
		return "busy"
	}
	return "interrupted"
}

// Progress samples the uploads in progress: their offsets and rates since the last sample.
// The event stream gets one upload_progress per upload; the admin API reads Rate.
func (o *Ops) Progress(flights []*streaming.Flight, now time.Time) {
	o.mu.Lock()
	if o.rates == nil {
		o.rates = map[string]rate{}
	}
	var events []Event
	for _, f := range flights {
		if f.Ended() {
			continue // Ended has dropped (or is about to drop, after this lock) its rate
		}
		at := f.Offset + f.Bytes()
		r, seen := o.rates[f.ID]
		bps := 0.0
		if seen && now.After(r.at) && at >= r.bytes {
			bps = float64(at-r.bytes) / now.Sub(r.at).Seconds()
		} else if !seen {
			if d := now.Sub(f.Started).Seconds(); d > 0 {
				bps = float64(f.Bytes()) / d
			}
		}
		o.rates[f.ID] = rate{at: now, bytes: at, bps: bps}
		events = append(events, flightEvent("upload_progress", f, at, bps))
	}
	o.mu.Unlock()
	for _, e := range events {
		o.Events.Publish(e)
	}
}

// Rate is an upload's rate at the last sample, in bytes per second.
func (o *Ops) Rate(id string) float64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.rates[id].bps
}
