package storage

import (
	"encoding/json"
	"sync"
	"time"
)

// QuotaBook counts the bytes each uploader committed during the current UTC day, for
// limits.daily_quota. The local store keeps its own book; an object store shared by several
// nodes is given one they share (Redis).
type QuotaBook interface {
	// UsedToday is how many bytes uploader committed during now's UTC day.
	UsedToday(uploader string, now time.Time) int64
	// Charge adds n bytes committed at now to uploader's day.
	Charge(uploader string, n int64, now time.Time)
}

var _ QuotaBook = (*Local)(nil)

// quotaFile keeps the bytes each uploader committed today, so a daily quota survives a
// restart. It is small and rewritten whole; losing the last write to a crash only forgets a
// few uploads' worth of quota.
const quotaFile = "quota.json"

type quotaBook struct {
	mu   sync.Mutex
	Day  string           `json:"day"`
	Used map[string]int64 `json:"used"`
}

func today(now time.Time) string { return now.UTC().Format(time.DateOnly) }

func (l *Local) loadQuota() {
	l.quota.Used = map[string]int64{}
	data, err := l.root.ReadFile(quotaFile)
	if err != nil {
		return
	}
	var q quotaBook
	if json.Unmarshal(data, &q) == nil && q.Used != nil {
		l.quota.Day, l.quota.Used = q.Day, q.Used
	}
}

// UsedToday is how many bytes uploader committed during the current UTC day.
func (l *Local) UsedToday(uploader string, now time.Time) int64 {
	l.quota.mu.Lock()
	defer l.quota.mu.Unlock()
	if l.quota.Day != today(now) {
		return 0
	}
	return l.quota.Used[uploader]
}

// Charge adds a committed upload to its uploader's day.
func (l *Local) Charge(uploader string, n int64, now time.Time) {
	if uploader == "" {
		return
	}
	l.quota.mu.Lock()
	defer l.quota.mu.Unlock()
	if d := today(now); l.quota.Day != d {
		l.quota.Day, l.quota.Used = d, map[string]int64{}
	}
	l.quota.Used[uploader] += n
	data, err := json.Marshal(&l.quota)
	if err != nil {
		return
	}
	tmp := tmpDir + "/" + RandomID() + ".quota"
	if err := l.root.WriteFile(tmp, data, 0o640); err == nil {
		if l.root.Rename(tmp, quotaFile) != nil {
			l.root.Remove(tmp)
		}
	}
}
