package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
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
	d.defaults()
	part, statePath := path+".part", path+".part.json"
	ps := d.loadPartState(part, statePath)
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	res := Result{FileURL: d.URL, Size: -1}
	total, digest, err := d.fetchRetrying(ctx, f, &ps, statePath)
	if err != nil {
		return res, err
	}
	res.Size = total
	d.Progress.Finish()
	if res.SHA256, err = fileSHA256(f); err != nil {
		return res, err
	}
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

// defaults fills in what the caller left zero, so that a bare Download works: the default
// client and retry policy.
func (d *Download) defaults() {
	if d.Client == nil {
		d.Client = http.DefaultClient
	}
	if d.Retry.Attempts == 0 {
		d.Retry = DefaultRetry
	}
}

// loadPartState reads what an earlier run left in statePath and decides whether its part may
// be resumed: only a part of this URL with a validator can be, because without one a changed
// file could not be told from the old. Any other part is removed.
func (d *Download) loadPartState(part, statePath string) partState {
	var ps partState
	if data, err := os.ReadFile(statePath); err == nil {
		json.Unmarshal(data, &ps)
	}
	if ps.URL != d.URL || ps.ETag == "" {
		ps = partState{URL: d.URL}
		os.Remove(part)
	}
	return ps
}

// fetchRetrying fetches from the end of f until the file is whole, retrying as d.Retry allows;
// each attempt goes on from what the ones before wrote. It returns the total size and the
// last digest the server sent.
func (d *Download) fetchRetrying(ctx context.Context, f *os.File, ps *partState, statePath string) (int64, string, error) {
	rt := &retrier{ctx: ctx, policy: d.Retry}
	var digest string
	for {
		offset, err := f.Seek(0, io.SeekEnd)
		if err != nil {
			return 0, digest, err
		}
		total, dg, err := d.fetch(ctx, f, offset, ps, statePath)
		if dg != "" {
			digest = dg
		}
		if err == nil {
			return total, digest, nil
		}
		if err := rt.retry(err); err != nil {
			return 0, digest, err
		}
	}
}

// fileSHA256 is the hex SHA-256 of f's whole content, read from its start.
func fileSHA256(f *os.File) (string, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// fetch gets the rest of the file from offset and appends it to f. It returns the total
// size and the server's Repr-Digest. A validator change restarts from zero.
func (d *Download) fetch(ctx context.Context, f *os.File, offset int64, ps *partState, statePath string) (int64, string, error) {
	req, err := d.newRequest(ctx, offset, ps.ETag)
	if err != nil {
		return 0, "", err
	}
	resp, err := d.Client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	digest := resp.Header.Get("Repr-Digest")
	offset, total, whole, err := placeResponse(resp, f, offset)
	if err != nil {
		return 0, digest, err
	}
	if whole {
		return total, digest, nil
	}
	if err := rememberETag(resp.Header.Get("Etag"), ps, statePath); err != nil {
		return 0, digest, err
	}
	n, err := d.copyBody(f, resp.Body, offset, total)
	if err != nil {
		return 0, digest, err
	}
	if total >= 0 && offset+n != total {
		return 0, digest, io.ErrUnexpectedEOF
	}
	return offset + n, digest, nil
}

// newRequest builds the GET for the rest of the file from offset. Past zero it asks for a
// range only while the validator etag still holds, so that a changed file comes back whole
// instead of being spliced onto the old one; without a validator it asks for the whole file
// (an empty If-Range would be ignored, and the range served from whatever the file is now).
func (d *Download) newRequest(ctx context.Context, offset int64, etag string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL, nil)
	if err != nil {
		return nil, err
	}
	for k, vs := range d.Header {
		req.Header[k] = vs
	}
	req.Header.Set("Accept-Encoding", "identity")
	if offset > 0 && etag != "" {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
		req.Header.Set("If-Range", etag)
	}
	return req, nil
}

// placeResponse decides from the response's status where its body belongs in f: at offset
// for the range asked, at zero (f emptied) for the whole file, or nowhere when the file is
// already whole, which it reports. It returns where the body goes and the file's total size
// (-1 when the server does not say).
func placeResponse(resp *http.Response, f *os.File, offset int64) (start, total int64, whole bool, err error) {
	switch resp.StatusCode {
	case http.StatusOK:
		// Fresh content (or the validator changed): start over.
		if err := f.Truncate(0); err != nil {
			return 0, 0, false, err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return 0, 0, false, err
		}
		return 0, resp.ContentLength, false, nil
	case http.StatusPartialContent:
		first, size, ok := parseContentRangeHeader(resp.Header.Get("Content-Range"))
		if !ok || first != offset {
			return 0, 0, false, errors.New("download: server answered a range other than the one asked")
		}
		return offset, size, false, nil
	case http.StatusRequestedRangeNotSatisfiable:
		// The file is already whole when our offset is its size.
		if _, size, ok := parseContentRangeHeader(resp.Header.Get("Content-Range")); ok && size == offset {
			return offset, size, true, nil
		}
		f.Truncate(0)
		return 0, 0, false, errors.New("download: saved part does not fit the file; starting over")
	default:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, 0, false, &StatusError{Op: "download", Status: resp.StatusCode, Body: strings.TrimSpace(string(body))}
	}
}

// rememberETag saves a new strong validator etag to statePath, so that a later run resumes
// only while the file is still the one these bytes came from. A weak validator cannot vouch
// for byte ranges, so it is not kept.
func rememberETag(etag string, ps *partState, statePath string) error {
	if etag == "" || etag == ps.ETag || strings.HasPrefix(etag, "W/") {
		return nil
	}
	ps.ETag = etag
	data, _ := json.Marshal(ps)
	return os.WriteFile(statePath, data, 0o644)
}

// copyBody appends body to f from offset and returns how much it wrote, showing progress
// against total when the download has a progress display.
func (d *Download) copyBody(f *os.File, body io.Reader, offset, total int64) (int64, error) {
	if d.Progress != nil {
		d.Progress.total = total
		d.Progress.Start(offset)
		body = &offsetProgress{r: body, base: offset, prog: d.Progress}
	}
	return io.Copy(f, body)
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
