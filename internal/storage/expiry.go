package storage

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// The expiry index lets the reaper find the files whose time may be up without walking every
// stored file: a pass costs what the expired files cost, whatever the number stored.
//
// It is a directory of append-only logs, one per hour, of JSON lines {name, created,
// expires}. Every commit appends its file to the log of the hour it is created in ("c-"
// logs), and, when the file has its own expiry, to the log of that hour too ("e-" logs),
// before the file is linked under its name: a file that exists always has its record
// (with storage.fsync the record is synced first). A record is a hint, never the truth: the
// reaper checks the file's own metadata before it removes anything, so a record of a file
// since removed, or replaced by a newer upload of the same name, costs one lstat.
//
// A c-log may hold due records once its hour plus upload.ttl has passed (upload.ttl is read
// at each pass, so changing it takes effect at once); an e-log once its hour has. The reaper
// reads those logs only, and removes a log once every record in it was due. With
// upload.ttl = 0 the c-logs are kept (a line per file) in case a TTL is set later.
//
// Files stored before the index existed have no records: until one whole pass has run (the
// first one after an upgrade, which walks every file as passes always did before, and
// records what it keeps), Reap walks everything.

const (
	indexDir    = "index/expiry"
	indexBuilt  = "index/expiry.built" // written after the first whole pass recorded every file
	indexBucket = time.Hour
	// indexGrace is how long after its hour a log is still appended to (a commit that
	// picked its log just before the hour turned): a log is removed only after it.
	indexGrace = time.Minute
)

// indexRecord is one line of an expiry log.
type indexRecord struct {
	Name    string `json:"n"`
	Created int64  `json:"c"`           // unix seconds
	Expires int64  `json:"e,omitempty"` // unix seconds; 0: no expiry of its own
}

// logName is the log a record due by time t belongs to, of kind "c" or "e".
func logName(kind string, t time.Time) string {
	return indexDir + "/" + kind + "-" + strconv.FormatInt(t.Truncate(indexBucket).Unix(), 10) + ".log"
}

// parseLogName is the kind and first hour of an expiry log's file name.
func parseLogName(name string) (kind string, start time.Time, ok bool) {
	kind, rest, found := strings.Cut(strings.TrimSuffix(name, ".log"), "-")
	if !found || (kind != "c" && kind != "e") || !strings.HasSuffix(name, ".log") {
		return "", time.Time{}, false
	}
	sec, err := strconv.ParseInt(rest, 10, 64)
	if err != nil {
		return "", time.Time{}, false
	}
	return kind, time.Unix(sec, 0), true
}

// recordOf is a file's line in the expiry index and the logs it goes in: the log of the hour
// created falls in, and, when the file has its own expiry, the log of that hour (an expiry
// already past goes in the creation hour's log: logs of past hours may be being read and
// removed).
func recordOf(name string, created, expires time.Time) (line []byte, logs []string, err error) {
	rec := indexRecord{Name: name, Created: created.Unix()}
	logs = []string{logName("c", created)}
	if !expires.IsZero() {
		rec.Expires = expires.Unix()
		logs = append(logs, logName("e", maxTime(expires, created)))
	}
	line, err = json.Marshal(rec)
	return append(line, '\n'), logs, err
}

// record appends name's record to the expiry index (see recordOf). Called before the file is
// linked, so that no stored file lacks a record; with storage.fsync the record is durable
// first.
func (l *Local) record(name string, created, expires time.Time) error {
	line, logs, err := recordOf(name, created, expires)
	if err != nil {
		return err
	}
	for _, lg := range logs {
		if err := l.appendLog(lg, line); err != nil {
			return err
		}
	}
	return nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// appendLog appends line to the log at name in one write (O_APPEND: records of concurrent
// commits, even of other processes, do not interleave).
func (l *Local) appendLog(name string, line []byte) error {
	f, err := l.root.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if errors.Is(err, fs.ErrNotExist) {
		if err = l.root.MkdirAll(indexDir, 0o750); err == nil {
			f, err = l.root.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		}
	}
	if err != nil {
		return mapErr("open expiry index", err)
	}
	var fresh bool // a new log, whose directory entry must be synced too
	if l.opts.Fsync {
		st, serr := f.Stat()
		fresh = serr != nil || st.Size() == 0
	}
	_, err = f.Write(line)
	if err == nil && l.opts.Fsync {
		err = f.Sync()
		if err == nil && fresh {
			err = l.syncDir(indexDir)
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return mapErr("write expiry index", err)
	}
	return nil
}

// indexed reports whether the expiry index holds every stored file.
func (l *Local) indexed() bool {
	_, err := l.root.Stat(indexBuilt)
	return err == nil
}

// markIndexed notes that the expiry index holds every stored file.
func (l *Local) markIndexed() error {
	if err := l.replaceFile(indexBuilt, nil); err != nil {
		return mapErr("mark expiry index", err)
	}
	return nil
}

// reapIndexed is a reaper pass over the expiry index: it reads the logs that may hold due
// records, removes the files whose time is up (checked against their metadata), and
// removes the logs whose records were all due.
func (l *Local) reapIndexed(ctx context.Context, now time.Time, ttl time.Duration, dryRun bool, res *ReapResult) error {
	ents, err := fs.ReadDir(l.root.FS(), indexDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return mapErr("read expiry index", err)
	}
	seen := map[string]bool{} // names handled in this pass: both logs may list one
	for _, e := range ents {
		kind, start, ok := parseLogName(e.Name())
		if !ok {
			continue
		}
		last := start.Add(indexBucket) // every record in the log was made before it
		if kind == "c" {
			if ttl <= 0 {
				continue
			}
			start, last = start.Add(ttl), last.Add(ttl)
		}
		if now.Before(start) {
			continue // nothing in it is due yet
		}
		if err := l.reapLog(ctx, indexDir+"/"+e.Name(), kind, now, ttl, dryRun, seen, res); err != nil {
			return err
		}
		if !dryRun && now.After(last.Add(indexGrace)) {
			if err := l.root.Remove(indexDir + "/" + e.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return mapErr("remove expiry log", err)
			}
		}
	}
	return nil
}

// reapLog handles the due records of one expiry log.
func (l *Local) reapLog(ctx context.Context, log, kind string, now time.Time, ttl time.Duration, dryRun bool, seen map[string]bool, res *ReapResult) error {
	f, err := l.root.Open(log)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // another pass (fileserver gc) finished it
	}
	if err != nil {
		return mapErr("open expiry log", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var rec indexRecord
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec.Name == "" || seen[rec.Name] {
			continue // a torn last line of a crash, or a name already handled
		}
		due := time.Unix(rec.Expires, 0)
		if kind == "c" {
			due = time.Unix(rec.Created, 0).Add(ttl)
		}
		if now.Before(due) {
			continue
		}
		seen[rec.Name] = true
		if err := l.reapName(ctx, rec.Name, now, ttl, dryRun, res); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("storage: read expiry log %s: %w", log, err)
	}
	return nil
}

// reapName removes the stored file name if its metadata says its time is up, and then the
// directories its removal left empty.
func (l *Local) reapName(ctx context.Context, name string, now time.Time, ttl time.Duration, dryRun bool, res *ReapResult) error {
	if ValidName(name) != nil {
		return nil
	}
	info, err := l.root.Lstat(filePath(name))
	if err != nil || !info.Mode().IsRegular() {
		return nil // gone already, or not ours to judge (a symlink)
	}
	_, removed, err := l.reapFile(ctx, name, info, now, ttl, dryRun, res)
	if err != nil || !removed || dryRun {
		return err
	}
	for d := path.Dir(filePath(name)); d != filesDir && d != "."; d = path.Dir(d) {
		if l.root.Remove(d) != nil {
			break // not empty: neither are its parents
		}
		res.DirsPruned++
	}
	return nil
}

// indexBuilder writes the records of the first whole pass: one open, buffered log per
// hour, synced once at the end, rather than a write and a sync per file.
type indexBuilder struct {
	l    *Local
	logs map[string]*bufferedLog
	err  error
}

type bufferedLog struct {
	f *os.File
	w *bufio.Writer
}

// add records a stored file the pass keeps.
func (b *indexBuilder) add(m Meta) {
	if b.err != nil {
		return
	}
	line, logs, err := recordOf(m.Name, m.Created, m.Expires)
	if err != nil {
		b.err = err
		return
	}
	for _, lg := range logs {
		b.write(lg, line)
	}
}

func (b *indexBuilder) write(name string, line []byte) {
	lg, ok := b.logs[name]
	if !ok {
		if err := b.l.root.MkdirAll(indexDir, 0o750); err != nil {
			b.err = err
			return
		}
		f, err := b.l.root.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			b.err = err
			return
		}
		lg = &bufferedLog{f: f, w: bufio.NewWriterSize(f, 16<<10)}
		b.logs[name] = lg
	}
	if _, err := lg.w.Write(line); err != nil {
		b.err = err
	}
}

// finish writes out and syncs every log, and reports whether all of it was recorded.
func (b *indexBuilder) finish() error {
	for _, lg := range b.logs {
		err := lg.w.Flush()
		if err == nil && b.l.opts.Fsync {
			err = lg.f.Sync()
		}
		if cerr := lg.f.Close(); err == nil {
			err = cerr
		}
		if b.err == nil {
			b.err = err
		}
	}
	if b.err == nil && b.l.opts.Fsync && len(b.logs) > 0 {
		b.err = b.l.syncDir(indexDir)
	}
	if b.err != nil {
		return mapErr("build expiry index", b.err)
	}
	return nil
}
