//go:build e2e

package e2e

// TestPrometheusDashboard: a real Prometheus (Debian package prometheus) scrapes the real
// binary every second while the test drives traffic of every kind the dashboard shows:
// signed v1/v2 PUTs, GETs with and without Range, a bad signature, a missing file, tus
// uploads with an offset conflict, a resume and a lock hand-off. Prometheus loads
// deploy/prometheus/alerts.yml as its rule file. Then:
//   - promtool check metrics on a scrape of /metrics;
//   - promtool check rules / test rules on deploy/prometheus/alerts*.yml, check config on
//     deploy/prometheus/prometheus.yml;
//   - every panel target of deploy/grafana/fileserver.json, with $instance -> .* and
//     $__rate_interval -> 30s, is evaluated through /api/v1/query: an error or an empty
//     result fails the test, naming the row and panel.
//
// Run: e2e/install-deps.sh (as root, once), then go test -tags e2e -run Prometheus ./e2e/

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fileserver/internal/hmacauth"
	"fileserver/internal/testkit"
)

const (
	promScrapeInterval = time.Second
	promRateWindow     = "30s" // what $__rate_interval becomes: many 1 s scrapes
	promFilesPrefix    = "/files/"
	promTusVersion     = "1.0.0"
	promTusChunkType   = "application/offset+octet-stream"
	promDashboardPath  = "../deploy/grafana/fileserver.json"
	promAlertsPath     = "../deploy/prometheus/alerts.yml"
	promAlertTestsPath = "../deploy/prometheus/alerts_test.yml"
	promConfigPath     = "../deploy/prometheus/prometheus.yml"
	promMetricsSrcGlob = "../internal/metrics/*.go"
)

// requireTool finds a program a Debian package provides; missing, the test fails (never skips).
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: install the Debian package %q (run e2e/install-deps.sh as root)", name, pkg)
	}
	return p
}

func TestPrometheusDashboard(t *testing.T) {
	promBin := requireTool(t, "prometheus", "prometheus")
	promtool := requireTool(t, "promtool", "prometheus")

	// Static checks first: they need no process.
	targets := loadDashboard(t, promDashboardPath)
	checkMetricNames(t, targets)
	for _, args := range [][]string{
		{"check", "rules", promAlertsPath},
		{"test", "rules", promAlertTestsPath},
		{"check", "config", promConfigPath},
	} {
		out, stderr, err := run(context.Background(), 60*time.Second, nil, promtool, args...)
		if err != nil {
			t.Errorf("promtool %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		} else {
			t.Logf("promtool %s: ok", strings.Join(args, " "))
		}
	}

	fs := startPromFileserver(t)
	traffic := startPromTraffic(t, fs)
	prom := startPrometheus(t, promBin, fs)

	// Target up, then keep traffic going across several scrapes so rate() has samples.
	prom.waitTargetUp(t, 30*time.Second)
	time.Sleep(2 * promScrapeInterval)
	traffic.waitRounds(t, 3, 60*time.Second)
	time.Sleep(5 * promScrapeInterval)

	// promtool check metrics on what Prometheus scrapes.
	text := fetchMetrics(t, fs.base+"/metrics")
	checkExposition(t, promtool, text)
	checkEventsCounted(t, text)

	prom.checkRules(t, 15*time.Second)

	// Every panel target, evaluated while traffic still runs.
	failed := 0
	for _, tg := range targets {
		expr := strings.NewReplacer(`$instance`, `.*`, `${instance}`, `.*`,
			`$__rate_interval`, promRateWindow, `${__rate_interval}`, promRateWindow).Replace(tg.expr)
		res, err := prom.query(expr)
		switch {
		case err != nil:
			failed++
			t.Errorf("panel %q (row %q, target %s): query failed: %v\nexpr: %s", tg.panel, tg.row, tg.refID, err, expr)
		case len(res) == 0:
			failed++
			t.Errorf("panel %q (row %q, target %s): no series (Grafana would show \"No data\")\nexpr: %s", tg.panel, tg.row, tg.refID, expr)
		case hasNaN(res):
			// Every histogram gets observations all through the window: NaN means none did.
			failed++
			t.Errorf("panel %q (row %q, target %s): NaN (no observations in the last %s): %s\nexpr: %s",
				tg.panel, tg.row, tg.refID, promRateWindow, describeResult(res), expr)
		default:
			t.Logf("ok  %-20s | %-45s %s: %s", tg.row, tg.panel, tg.refID, describeResult(res))
		}
	}
	t.Logf("%d panel targets evaluated, %d failed", len(targets), failed)

	traffic.stop(t)
}

// ---------------------------------------------------------------- dashboard

// panelTarget is one query of one dashboard panel.
type panelTarget struct {
	row, panel, refID, expr string
}

type grafanaPanel struct {
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	GridPos    *struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Panels  []grafanaPanel `json:"panels"` // a collapsed row's panels
	Targets []struct {
		RefID      string          `json:"refId"`
		Expr       string          `json:"expr"`
		Datasource json.RawMessage `json:"datasource"`
	} `json:"targets"`
}

type grafanaDashboard struct {
	Title         string         `json:"title"`
	UID           string         `json:"uid"`
	SchemaVersion int            `json:"schemaVersion"`
	Panels        []grafanaPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Multi      bool            `json:"multi"`
			IncludeAll bool            `json:"includeAll"`
		} `json:"list"`
	} `json:"templating"`
}

var (
	wantRows      = []string{"Traffic", "Latency", "Errors", "StreamingEngine", "Resumable sessions", "Storage and process"}
	rangeSelector = regexp.MustCompile(`\[([^\]]*)\]`)
)

// loadDashboard parses the dashboard, checks its structure (variables, rows, a title and a
// target on every panel, the instance matcher and $__rate_interval in every query) and
// returns every panel target.
func loadDashboard(t *testing.T, path string) []panelTarget {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("dashboard %s is not valid JSON: %v", path, err)
	}
	if d.Title == "" || d.UID == "" || d.SchemaVersion < 36 {
		t.Errorf("dashboard: title %q, uid %q, schemaVersion %d: want a title, a uid and schemaVersion >= 36", d.Title, d.UID, d.SchemaVersion)
	}
	vars := map[string]int{}
	for i, v := range d.Templating.List {
		vars[v.Name] = i
	}
	if i, ok := vars["datasource"]; !ok || d.Templating.List[i].Type != "datasource" || string(d.Templating.List[i].Query) != `"prometheus"` {
		t.Errorf("dashboard: want a template variable datasource of type datasource with query \"prometheus\"")
	}
	if i, ok := vars["instance"]; !ok || !d.Templating.List[i].Multi || !d.Templating.List[i].IncludeAll ||
		!strings.Contains(string(d.Templating.List[i].Query), "label_values(fileserver_http_requests_total, instance)") {
		t.Errorf("dashboard: want a multi-value instance variable with All, from label_values(fileserver_http_requests_total, instance)")
	}

	var out []panelTarget
	var rows []string
	row := ""
	var visit func(p grafanaPanel)
	visit = func(p grafanaPanel) {
		if p.Type == "row" {
			if p.Title == "" {
				t.Errorf("dashboard: a row has no title")
			}
			row = p.Title
			rows = append(rows, row)
			for _, c := range p.Panels {
				visit(c)
			}
			return
		}
		name := p.Title
		if name == "" {
			t.Errorf("dashboard: a panel in row %q has no title", row)
			name = "(untitled)"
		}
		if row == "" {
			t.Errorf("dashboard: panel %q lies above the first row", name)
		}
		if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 {
			t.Errorf("dashboard: panel %q has no gridPos", name)
		}
		if !strings.Contains(string(p.Datasource), "${datasource}") {
			t.Errorf("dashboard: panel %q does not use the datasource variable: %s", name, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("dashboard: panel %q (row %q) has no target", name, row)
		}
		for _, tg := range p.Targets {
			switch {
			case strings.TrimSpace(tg.Expr) == "":
				t.Errorf("dashboard: panel %q target %s has no expr", name, tg.RefID)
				continue
			case !strings.Contains(tg.Expr, `instance=~"$instance"`):
				t.Errorf("dashboard: panel %q target %s lacks {instance=~\"$instance\"}: %s", name, tg.RefID, tg.Expr)
			}
			for _, m := range rangeSelector.FindAllStringSubmatch(tg.Expr, -1) {
				if m[1] != "$__rate_interval" {
					t.Errorf("dashboard: panel %q target %s uses the range [%s], want [$__rate_interval]", name, tg.RefID, m[1])
				}
			}
			if len(tg.Datasource) > 0 && !strings.Contains(string(tg.Datasource), "${datasource}") {
				t.Errorf("dashboard: panel %q target %s does not use the datasource variable", name, tg.RefID)
			}
			out = append(out, panelTarget{row: row, panel: name, refID: tg.RefID, expr: tg.Expr})
		}
	}
	for _, p := range d.Panels {
		visit(p)
	}
	if !slices.Equal(rows, wantRows) {
		t.Errorf("dashboard rows = %q, want %q", rows, wantRows)
	}
	if len(out) == 0 {
		t.Fatalf("dashboard %s has no panel targets", path)
	}
	return out
}

var (
	metricNameRe = regexp.MustCompile(`\bfileserver_[a-z0-9_]+`)
	declaredRe   = regexp.MustCompile(`desc\("([a-z0-9_]+)"`)
)

// checkMetricNames: every fileserver_ name the dashboard and the alerts use is declared in
// internal/metrics (so an `or vector(0)` cannot hide a misspelt name behind a zero).
func checkMetricNames(t *testing.T, targets []panelTarget) {
	t.Helper()
	files, _ := filepath.Glob(promMetricsSrcGlob)
	declared := map[string]bool{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range declaredRe.FindAllStringSubmatch(string(src), -1) {
			declared["fileserver_"+m[1]] = true
		}
	}
	if len(declared) < 20 {
		t.Fatalf("found only %d metric declarations in %s", len(declared), promMetricsSrcGlob)
	}
	known := func(name string) bool {
		for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && declared[base] {
				return true
			}
		}
		return false
	}
	for _, tg := range targets {
		for _, name := range metricNameRe.FindAllString(tg.expr, -1) {
			if !known(name) {
				t.Errorf("dashboard: panel %q uses %s, which internal/metrics does not declare", tg.panel, name)
			}
		}
	}
	alerts, err := os.ReadFile(promAlertsPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range metricNameRe.FindAllString(string(alerts), -1) {
		if !known(name) {
			t.Errorf("alerts.yml uses %s, which internal/metrics does not declare", name)
		}
	}
}

// ---------------------------------------------------------------- fileserver and traffic

func startPromFileserver(t *testing.T) *fileserver {
	t.Helper()
	return startFileserver(t,
		"FILESERVER_RESUMABLE_PREFIX="+promFilesPrefix,
		"FILESERVER_METRICS_ENABLED=true",
		"FILESERVER_METRICS_PATH=/metrics")
}

// promTraffic runs rounds of traffic in the background until stopped.
type promTraffic struct {
	fs     *fileserver
	client *http.Client
	cancel context.CancelFunc
	done   chan struct{}
	rounds atomic.Int64
	mu     sync.Mutex
	errs   []string
}

func startPromTraffic(t *testing.T, fs *fileserver) *promTraffic {
	ctx, cancel := context.WithCancel(context.Background())
	tr := &promTraffic{fs: fs, client: &http.Client{Timeout: 20 * time.Second}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(tr.done)
		for i := 0; ctx.Err() == nil; i++ {
			if err := tr.round(ctx, i); err != nil && ctx.Err() == nil {
				tr.fail("round %d: %v", i, err)
			}
			tr.rounds.Add(1)
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { tr.cancel(); <-tr.done })
	return tr
}

func (tr *promTraffic) fail(format string, args ...any) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.errs) < 20 {
		tr.errs = append(tr.errs, fmt.Sprintf(format, args...))
	}
}

// waitRounds waits (bounded) until n rounds have run.
func (tr *promTraffic) waitRounds(t *testing.T, n int64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for tr.rounds.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("traffic: only %d of %d rounds in %v; errors: %q", tr.rounds.Load(), n, timeout, tr.errors())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (tr *promTraffic) errors() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.errs)
}

// stop ends the traffic (bounded) and reports what went wrong in it.
func (tr *promTraffic) stop(t *testing.T) {
	t.Helper()
	tr.cancel()
	select {
	case <-tr.done:
	case <-time.After(30 * time.Second):
		t.Errorf("traffic did not stop within 30 s")
	}
	t.Logf("traffic: %d rounds", tr.rounds.Load())
	for _, e := range tr.errors() {
		t.Errorf("traffic: %s", e)
	}
}

// do sends one request and drains the answer; it returns the status and headers.
func (tr *promTraffic) do(ctx context.Context, method, u string, body []byte, hdr ...string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body == nil {
		req.Body, req.ContentLength = nil, 0
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := tr.client.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

// expect sends a request and wants one of the statuses.
func (tr *promTraffic) expect(ctx context.Context, what string, want []int, method, u string, body []byte, hdr ...string) (*http.Response, error) {
	resp, err := tr.do(ctx, method, u, body, hdr...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if !slices.Contains(want, resp.StatusCode) {
		return resp, fmt.Errorf("%s: %s %s: status %d, want %v", what, method, redactURL(u), resp.StatusCode, want)
	}
	return resp, nil
}

func redactURL(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i] + "?..."
	}
	return u
}

// round is one pass over every kind of request the dashboard shows.
func (tr *promTraffic) round(ctx context.Context, i int) error {
	fs := tr.fs
	size := 300<<10 + (i%7)*10_000 // >= 256 KiB: enough for a throughput sample
	data := make([]byte, size)
	rand.Read(data)

	// Signed PUTs, v1 and v2.
	p1 := fmt.Sprintf("prom/r%d-v1.bin", i)
	if _, err := tr.expect(ctx, "v1 PUT", []int{201}, "PUT",
		fs.base+"/upload/"+p1+"?v="+hmacauth.SignV1(fs.secret, p1, int64(size)), data); err != nil {
		return err
	}
	p2 := fmt.Sprintf("prom/r%d-v2.png", i)
	if _, err := tr.expect(ctx, "v2 PUT", []int{201}, "PUT",
		fs.base+"/upload/"+p2+"?v2="+hmacauth.SignV2(fs.secret, p2, int64(size), "image/png"), data,
		"Content-Type", "image/png"); err != nil {
		return err
	}
	// GETs: whole, a Range, a missing file.
	if _, err := tr.expect(ctx, "GET", []int{200}, "GET", fs.base+"/upload/"+p1, nil); err != nil {
		return err
	}
	if _, err := tr.expect(ctx, "Range GET", []int{206}, "GET", fs.base+"/upload/"+p2, nil, "Range", "bytes=100-65635"); err != nil {
		return err
	}
	if _, err := tr.expect(ctx, "GET of a missing file", []int{404}, "GET", fs.base+"/upload/prom/missing.bin", nil); err != nil {
		return err
	}
	// A bad signature.
	if _, err := tr.expect(ctx, "PUT with a bad signature", []int{401, 403}, "PUT",
		fs.base+fmt.Sprintf("/upload/prom/bad-%d.bin?v=", i)+strings.Repeat("0", 64), []byte("x")); err != nil {
		return err
	}

	// tus: create, append, an offset conflict, resume from a non-zero offset.
	loc, err := tr.tusCreate(ctx, int64(size))
	if err != nil {
		return err
	}
	half := size / 2
	if _, err := tr.tusPatch(ctx, loc, 0, data[:half], 204); err != nil {
		return err
	}
	if _, err := tr.tusPatch(ctx, loc, int64(half/2), []byte("conflict"), 409); err != nil {
		return fmt.Errorf("offset conflict: %w", err)
	}
	if _, err := tr.tusPatch(ctx, loc, int64(half), data[half:], 204); err != nil {
		return err
	}

	// A hand-off: a PATCH that sends part of its body and stalls; a HEAD from another
	// connection takes the upload over; the rest follows from the offset the HEAD tells.
	return tr.handoff(ctx, data)
}

func (tr *promTraffic) creationURL() string {
	exp := time.Now().Add(time.Hour).Unix()
	return tr.fs.base + promFilesPrefix + "?v3=" + hmacauth.SignV3(tr.fs.secret, "POST", promFilesPrefix, exp) +
		"&expires=" + strconv.FormatInt(exp, 10)
}

func (tr *promTraffic) tusCreate(ctx context.Context, length int64) (string, error) {
	resp, err := tr.expect(ctx, "tus POST", []int{201}, "POST", tr.creationURL(), nil,
		"Tus-Resumable", promTusVersion, "Upload-Length", strconv.FormatInt(length, 10))
	if err != nil {
		return "", err
	}
	loc := resp.Header.Get("Location")
	u, err := url.Parse(loc)
	if loc == "" || err != nil {
		return "", fmt.Errorf("tus POST: Location %q", loc)
	}
	if !u.IsAbs() {
		loc = tr.fs.base + loc
	}
	return loc, nil
}

func (tr *promTraffic) tusPatch(ctx context.Context, loc string, off int64, body []byte, want int) (*http.Response, error) {
	return tr.expect(ctx, fmt.Sprintf("tus PATCH at %d", off), []int{want}, "PATCH", loc, body,
		"Tus-Resumable", promTusVersion, "Content-Type", promTusChunkType, "Upload-Offset", strconv.FormatInt(off, 10))
}

func (tr *promTraffic) handoff(ctx context.Context, data []byte) error {
	length := int64(len(data))
	loc, err := tr.tusCreate(ctx, length)
	if err != nil {
		return err
	}
	u, _ := url.Parse(loc)
	addr := strings.TrimPrefix(tr.fs.base, "http://")
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return fmt.Errorf("hand-off: dial: %w", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	sent := length / 3
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: %s\r\nTus-Resumable: %s\r\nContent-Type: %s\r\nUpload-Offset: 0\r\nContent-Length: %d\r\n\r\n",
		u.RequestURI(), addr, promTusVersion, promTusChunkType, length)
	if _, err := conn.Write(data[:sent]); err != nil {
		return fmt.Errorf("hand-off: writing the stalled PATCH: %w", err)
	}
	// Let the server take in what was sent before the HEAD takes the upload over.
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(150 * time.Millisecond):
	}
	head, err := tr.expect(ctx, "hand-off HEAD", []int{200}, "HEAD", loc, nil, "Tus-Resumable", promTusVersion)
	if err != nil {
		return err
	}
	off, err := strconv.ParseInt(head.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || off < 0 || off > sent {
		return fmt.Errorf("hand-off HEAD: Upload-Offset %q, want 0..%d", head.Header.Get("Upload-Offset"), sent)
	}
	// The stalled request is cut off; read whatever it answers (bounded by the deadline).
	if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
		resp.Body.Close()
	}
	_, err = tr.tusPatch(ctx, loc, off, data[off:], 204)
	return err
}

// ---------------------------------------------------------------- checks on /metrics

func fetchMetrics(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: status %d, %v", u, resp.StatusCode, err)
	}
	return body
}

func checkExposition(t *testing.T, promtool string, text []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(text)
	cmd.WaitDelay = 2 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics on /metrics (%d bytes): %v\n%s", len(text), err, out)
	} else {
		t.Logf("promtool check metrics: ok (%d bytes, %d lines)", len(text), bytes.Count(text, []byte("\n")))
	}
}

// checkEventsCounted: the one-off events of the traffic reached the counters, so the panels
// that show them read real values, not only the zero of `or vector(0)`.
func checkEventsCounted(t *testing.T, text []byte) {
	t.Helper()
	for _, name := range []string{
		`fileserver_transfers_total{direction="upload",protocol="v1",result="ok"}`,
		`fileserver_transfers_total{direction="upload",protocol="v2",result="ok"}`,
		`fileserver_transfers_total{direction="upload",protocol="tus",result="ok"}`,
		`fileserver_http_requests_total{code="4xx",method="GET",route="/upload/*"}`,
		`fileserver_auth_failures_total{reason="bad_signature",scheme="v1"}`,
		`fileserver_sessions_created_total`,
		`fileserver_sessions_completed_total`,
		`fileserver_sessions_resumed_total`,
		`fileserver_session_offset_conflicts_total`,
		`fileserver_session_handoffs_total`,
		`fileserver_session_handoff_seconds_count`,
		`fileserver_download_ttfb_seconds_count{protocol="get"}`,
		`fileserver_client_profiles`,
	} {
		v, ok := sampleValue(text, name)
		if !ok || !(v > 0) {
			t.Errorf("/metrics: %s = %v (present %v), want > 0 after the traffic", name, v, ok)
		}
	}
}

// sampleValue finds the sample "name value" (name with its labels as exposed).
func sampleValue(text []byte, name string) (float64, bool) {
	for _, line := range strings.Split(string(text), "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// ---------------------------------------------------------------- Prometheus

type prometheus struct {
	base string
	proc *proc
}

func startPrometheus(t *testing.T, bin string, fs *fileserver) *prometheus {
	t.Helper()
	dir := t.TempDir()
	alerts, err := filepath.Abs(promAlertsPath)
	if err != nil {
		t.Fatal(err)
	}
	port := testkit.FreePort(t)
	target := strings.TrimPrefix(fs.base, "http://")
	cfg := fmt.Sprintf(`global:
  scrape_interval: %[1]s
  scrape_timeout: %[1]s
  evaluation_interval: %[1]s
rule_files:
  - %[2]q
scrape_configs:
  - job_name: fileserver
    metrics_path: /metrics
    static_configs:
      - targets: [%[3]q]
`, promScrapeInterval, alerts, target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &prometheus{base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	p.proc = startProc(t, "prometheus", dir, nil, bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+fmt.Sprintf("127.0.0.1:%d", port),
		"--log.level=info")
	p.proc.waitHTTP200(t, p.base+"/-/ready", 60*time.Second)
	return p
}

// api GETs an HTTP API path and decodes the data of a successful answer into out.
func (p *prometheus) api(path string, params url.Values, out any) error {
	u := p.base + path
	if params != nil {
		u += "?" + params.Encode()
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
		Warnings  []string        `json:"warnings"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("HTTP %d, not JSON: %q", resp.StatusCode, clip(body))
	}
	if env.Status != "success" {
		return fmt.Errorf("HTTP %d: %s: %s", resp.StatusCode, env.ErrorType, env.Error)
	}
	if len(env.Warnings) > 0 {
		return fmt.Errorf("warnings: %q", env.Warnings)
	}
	return json.Unmarshal(env.Data, out)
}

// waitTargetUp polls /api/v1/targets until the fileserver target is up (the list stays
// empty for a few seconds after Prometheus is ready).
func (p *prometheus) waitTargetUp(t *testing.T, timeout time.Duration) {
	t.Helper()
	p.proc.waitUntil(t, "target fileserver up", timeout, func() error {
		var data struct {
			ActiveTargets []struct {
				Labels    map[string]string `json:"labels"`
				Health    string            `json:"health"`
				LastError string            `json:"lastError"`
			} `json:"activeTargets"`
		}
		if err := p.api("/api/v1/targets", nil, &data); err != nil {
			return err
		}
		for _, tg := range data.ActiveTargets {
			if tg.Labels["job"] == "fileserver" {
				if tg.Health == "up" {
					return nil
				}
				return fmt.Errorf("target %s: health %q, last error %q", tg.Labels["instance"], tg.Health, tg.LastError)
			}
		}
		return errors.New("no fileserver target yet")
	})
}

// checkRules: Prometheus loaded every rule of alerts.yml and evaluates each without error.
func (p *prometheus) checkRules(t *testing.T, timeout time.Duration) {
	t.Helper()
	type rule struct {
		Name      string `json:"name"`
		Health    string `json:"health"`
		LastError string `json:"lastError"`
		State     string `json:"state"`
		Type      string `json:"type"`
	}
	var rules []rule
	p.proc.waitUntil(t, "alert rules evaluated", timeout, func() error {
		var data struct {
			Groups []struct {
				Name  string `json:"name"`
				File  string `json:"file"`
				Rules []rule `json:"rules"`
			} `json:"groups"`
		}
		if err := p.api("/api/v1/rules", nil, &data); err != nil {
			return err
		}
		rules = rules[:0]
		for _, g := range data.Groups {
			rules = append(rules, g.Rules...)
		}
		if len(rules) == 0 {
			return errors.New("no rules loaded")
		}
		for _, r := range rules {
			if r.Health != "ok" {
				return fmt.Errorf("rule %s: health %q %s", r.Name, r.Health, r.LastError)
			}
		}
		return nil
	})
	var names []string
	for _, r := range rules {
		names = append(names, r.Name+"="+r.State)
	}
	t.Logf("Prometheus evaluates %d alert rules from alerts.yml, all healthy: %s", len(rules), strings.Join(names, " "))
	for _, want := range []string{"FileserverDown", "FileserverHighErrorRatio", "FileserverAuthFailureSpike",
		"FileserverBufferBudgetExhausted", "FileserverDiskNearlyFull", "FileserverManySessionsStalled"} {
		if !slices.ContainsFunc(rules, func(r rule) bool { return r.Name == want }) {
			t.Errorf("alerts.yml: no rule %s", want)
		}
	}
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// query evaluates an instant query; a result that is not a vector or scalar is an error.
func (p *prometheus) query(expr string) ([]promSample, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.api("/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, err
	}
	switch data.ResultType {
	case "vector":
		var v []promSample
		err := json.Unmarshal(data.Result, &v)
		return v, err
	case "scalar":
		var s [2]any
		err := json.Unmarshal(data.Result, &s)
		return []promSample{{Value: s}}, err
	}
	return nil, fmt.Errorf("result type %q", data.ResultType)
}

func hasNaN(res []promSample) bool {
	for _, s := range res {
		if v, _ := s.Value[1].(string); v == "NaN" {
			return true
		}
	}
	return false
}

// describeResult renders up to four series as labels=value.
func describeResult(res []promSample) string {
	var parts []string
	for i, s := range res {
		if i == 4 {
			parts = append(parts, fmt.Sprintf("... (%d series)", len(res)))
			break
		}
		val, _ := s.Value[1].(string)
		if f, err := strconv.ParseFloat(val, 64); err == nil && !math.IsNaN(f) {
			val = strconv.FormatFloat(f, 'g', 4, 64)
		}
		var labels []string
		for k, v := range s.Metric {
			if k != "instance" && k != "job" {
				labels = append(labels, k+"="+v)
			}
		}
		slices.Sort(labels)
		parts = append(parts, "{"+strings.Join(labels, ",")+"} "+val)
	}
	return strings.Join(parts, "  ")
}
