package audit

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"fileserver/internal/testkit"
)

// lines are the JSON lines written so far.
func lines(t *testing.T, s *testkit.SyncBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		out = append(out, m)
	}
	return out
}

// Refused signatures leave as one summary line per period, by reason, not one line each.
func TestRefusedSummary(t *testing.T) {
	var buf testkit.SyncBuffer
	l := New(&buf, nil, time.Hour)
	for range 1000 {
		l.Refused("v1:bad_signature")
	}
	l.Refused("token:token_expired")
	l.Committed(Upload{Name: "a/b.jpg", Uploader: "alice@example.org", Size: 10, SHA256: "ab"})
	l.Close() // writes the pending summary
	lines := lines(t, &buf)
	if len(lines) != 2 {
		t.Fatalf("%d lines, want the commit and one summary: %v", len(lines), lines)
	}
	sum := lines[1]
	by, _ := sum["by_reason"].(map[string]any)
	if sum["event"] != "signatures_refused" || sum["total"] != 1001.0 || by["v1:bad_signature"] != 1000.0 || by["token:token_expired"] != 1.0 {
		t.Errorf("summary %v", sum)
	}
	if lines[0]["event"] != "upload_committed" || lines[0]["uploader"] != "alice@example.org" || lines[0]["time"] == nil {
		t.Errorf("commit line %v", lines[0])
	}
}

// A nil log records nothing and does not fail.
func TestNilLog(t *testing.T) {
	var l *Log
	l.Committed(Upload{})
	l.Refused("x")
	l.SignIn(false, "", "", "api", "x")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}
