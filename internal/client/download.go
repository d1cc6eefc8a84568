package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// Download fetches one URL into a file, resuming with Range and If-Range: the bytes so far
// live in FILE.part, the validator they belong to in FILE.part.json, and FILE appears only
// when complete (and verified, when the server sends a digest).
type Download struct {
	URL      string
	Header   http.Header
	Retry    Retry
	Client   *http.Client
	Progress *Progress
}

// partState is what FILE.part.json remembers between runs.
type partState struct {
	URL  string `json:"url"`
	ETag string `json:"etag"`
}

// Run downloads to path.
func (d *Download) Run(ctx context.Context, path string) (Result, error) {
	if d.Client == nil {
		d.Client = http.DefaultClient
	}
	if d.Retry.Attempts == 0 {
		d.Retry = DefaultRetry
	}
	part, statePath := path+".part", path+".part.json"
	var ps partState
	if data, err := os.ReadFile(statePath); err == nil {
		json.Unmarshal(data, &ps)
	}
	if ps.URL != d.URL || ps.ETag == "" {
		ps = partState{URL: d.URL}
		os.Remove(part)
	}
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	res := Result{FileURL: d.URL, Size: -1}
	failures := 0
	var digest string
	for {
		offset, err := f.Seek(0, io.SeekEnd)
		if err != nil {
			return res, err
		}
		total, dg, err := d.fetch(ctx, f, offset, &ps, statePath)
		if dg != "" {
			digest = dg
		}
		if err == nil {
			res.Size = total
			break
		}
		if permanent(err) || ctx.Err() != nil {
			return res, err
		}
		if failures++; failures > d.Retry.Attempts {
			return res, fmt.Errorf("giving up after %d attempts: %w", failures, err)
		}
		if err := d.Retry.wait(ctx, failures-1); err != nil {
			return res, err
		}
	}
	d.Progress.Finish()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return res, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return res, err
	}
	res.SHA256 = hex.EncodeToString(h.Sum(nil))
	if err := checkDigest(digest, res.SHA256); err != nil {
		return res, err
	}
	res.Verified = digest != ""
	if err := f.Sync(); err != nil {
		return res, err
	}
	if err := os.Rename(part, path); err != nil {
		return res, err
	}
	os.Remove(statePath)
	return res, nil
}

// fetch gets the rest of the file from offset and appends it to f. It returns the total
// size and the server's Repr-Digest. A validator change restarts from zero.
func (d *Download) fetch(ctx context.Context, f *os.File, offset int64, ps *partState, statePath string) (int64, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL, nil)
	if err != nil {
		return 0, "", err
	}
	for k, vs := range d.Header {
		req.Header[k] = vs
	}
	req.Header.Set("Accept-Encoding", "identity")
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
		req.Header.Set("If-Range", ps.ETag)
	}
	resp, err := d.Client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	digest := resp.Header.Get("Repr-Digest")
	var total int64
	switch resp.StatusCode {
	case http.StatusOK:
		// Fresh content (or the validator changed): start over.
		if err := f.Truncate(0); err != nil {
			return 0, digest, err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return 0, digest, err
		}
		offset, total = 0, resp.ContentLength
	case http.StatusPartialContent:
		start, size, ok := parseContentRangeHeader(resp.Header.Get("Content-Range"))
		if !ok || start != offset {
			return 0, digest, errors.New("download: server answered a range other than the one asked")
		}
		total = size
	case http.StatusRequestedRangeNotSatisfiable:
		// The file is already whole when our offset is its size.
		if _, size, ok := parseContentRangeHeader(resp.Header.Get("Content-Range")); ok && size == offset {
			return size, digest, nil
		}
		f.Truncate(0)
		return 0, digest, errors.New("download: saved part does not fit the file; starting over")
	default:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, digest, &StatusError{Op: "download", Status: resp.StatusCode, Body: strings.TrimSpace(string(body))}
	}
	if et := resp.Header.Get("Etag"); et != "" && et != ps.ETag && !strings.HasPrefix(et, "W/") {
		ps.ETag = et
		data, _ := json.Marshal(ps)
		if err := os.WriteFile(statePath, data, 0o644); err != nil {
			return 0, digest, err
		}
	}
	if d.Progress != nil {
		d.Progress.total = total
		d.Progress.Start(offset)
	}
	var body io.Reader = resp.Body
	if d.Progress != nil {
		body = &offsetProgress{r: body, base: offset, prog: d.Progress}
	}
	n, err := io.Copy(f, body)
	if err != nil {
		return 0, digest, err
	}
	if total >= 0 && offset+n != total {
		return 0, digest, io.ErrUnexpectedEOF
	}
	return offset + n, digest, nil
}

// parseContentRangeHeader reads "bytes first-last/total" or "bytes */total".
func parseContentRangeHeader(v string) (first, total int64, ok bool) {
	rest, found := strings.CutPrefix(v, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	total, err := strconv.ParseInt(tot, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	if rng == "*" {
		return -1, total, true
	}
	a, _, _ := strings.Cut(rng, "-")
	first, err = strconv.ParseInt(a, 10, 64)
	return first, total, err == nil
}
