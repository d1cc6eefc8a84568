package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"fileserver/internal/scan"
	"fileserver/internal/storage"
	"fileserver/internal/streaming"
)

// Uploader is one uploader's day.
type Uploader struct {
	Uploader  string `json:"uploader"`
	UsedToday int64  `json:"used_today"`
	// Quota is limits.daily_quota, 0 when there is none.
	Quota int64 `json:"quota"`
}

// Uploaders is every uploader of the day and the daily quota.
type Uploaders struct {
	Uploaders []Uploader `json:"uploaders"`
	Quota     int64      `json:"quota"`
}

func (s *Server) listUploaders(w http.ResponseWriter, r *http.Request) {
	u, status, err := s.uploaders()
	if err != nil {
		apiError(w, status, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (s *Server) uploaders() (Uploaders, int, error) {
	out := []Uploader{}
	var limit int64
	if s.o.Quota != nil {
		limit = s.o.Quota.Limit
	}
	if s.o.Backend.Quota != nil {
		lister, ok := storage.UploadersOf(s.o.Backend.Quota)
		if !ok {
			return Uploaders{}, http.StatusNotImplemented, errors.New("this quota book cannot list its uploaders")
		}
		used, err := lister.UploadersToday(time.Now())
		if err != nil {
			return Uploaders{}, http.StatusServiceUnavailable, errors.New("the quota book cannot be read: " + err.Error())
		}
		for u, n := range used {
			out = append(out, Uploader{Uploader: u, UsedToday: n, Quota: limit})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].UsedToday != out[j].UsedToday {
			return out[i].UsedToday > out[j].UsedToday
		}
		return out[i].Uploader < out[j].Uploader
	})
	return Uploaders{Uploaders: out, Quota: limit}, http.StatusOK, nil
}

// Overview is the dashboard's summary of this node.
type Overview struct {
	UploadsInFlight   int64 `json:"uploads_in_flight"`
	DownloadsInFlight int64 `json:"downloads_in_flight"`
	// UploadRate is the sum of the uploads' rates, bytes per second.
	UploadRate  float64 `json:"upload_rate"`
	StoredFiles *int64  `json:"stored_files,omitempty"`
	StoredBytes *int64  `json:"stored_bytes,omitempty"`
	DiskFree    *int64  `json:"disk_free,omitempty"`
	DiskTotal   *int64  `json:"disk_total,omitempty"`
	Backend     string  `json:"backend"`
	Where       string  `json:"where"`
	// Requests, ClientErrors and ServerErrors count the public listener's answers since
	// start (4xx and 5xx); AuthFailures the refused credentials.
	Requests     int64 `json:"requests"`
	ClientErrors int64 `json:"client_errors"`
	ServerErrors int64 `json:"server_errors"`
	AuthFailures int64 `json:"auth_failures"`
	// DedupFiles and DedupBytes are the uploads stored as links to bytes already stored, and
	// the bytes that saved, since start (local storage).
	DedupFiles *int64 `json:"dedup_files,omitempty"`
	DedupBytes *int64 `json:"dedup_saved_bytes,omitempty"`
	// Scans counts the malware scans' verdicts since start (when scanning is on).
	Scans map[string]int64 `json:"scans,omitempty"`
	// Dropped counts events the live view was too slow for.
	Dropped int64 `json:"events_dropped"`
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.summary())
}

func (s *Server) summary() Overview {
	o := Overview{Backend: s.o.Backend.Name, Where: s.o.Backend.Where, Dropped: s.o.Ops.Events.Dropped()}
	if e := s.o.Engine; e != nil {
		o.UploadsInFlight = e.Stats().InFlight(streaming.Upload)
		o.DownloadsInFlight = e.Stats().InFlight(streaming.Download)
		for _, f := range e.Flights() {
			o.UploadRate += s.o.Ops.Rate(f.ID)
		}
	}
	if h := s.o.HTTP; h != nil {
		h.Requests.Each(func(labels []string, n int64) {
			o.Requests += n
			switch labels[len(labels)-1] {
			case "4xx":
				o.ClientErrors += n
			case "5xx":
				o.ServerErrors += n
			}
		})
		h.AuthFailures.Each(func(_ []string, n int64) { o.AuthFailures += n })
	}
	if sc := s.o.Ops.Scanner; sc != nil {
		o.Scans = map[string]int64{scan.Clean: sc.Counts.Clean.Load(), scan.Infected: sc.Counts.Infected.Load(),
			scan.Skipped: sc.Counts.Skipped.Load(), scan.Unavailable: sc.Counts.Unavailable.Load()}
	}
	if u := s.o.Backend.Usage; u != nil {
		files, bytes := u.Usage()
		o.StoredFiles, o.StoredBytes = &files, &bytes
		df, db := u.Deduplicated()
		o.DedupFiles, o.DedupBytes = &df, &db
		if free, total, err := u.DiskSpace(); err == nil {
			o.DiskFree, o.DiskTotal = &free, &total
		}
	}
	return o
}

// events streams the event bus as Server-Sent Events until the client goes.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	events, cancel := s.o.Ops.Events.Subscribe()
	defer cancel()
	fmt.Fprint(w, ": fileserver events\n\n")
	rc.Flush()
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.stop:
			return
		case <-keepAlive.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case e := <-events:
			data, _ := json.Marshal(e)
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.Type, data)
		}
		if rc.Flush() != nil {
			return
		}
	}
}
