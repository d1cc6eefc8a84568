package client

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Protocols the uploader speaks.
const (
	Tus  = "tus"
	IETF = "ietf"
)

// Upload sends one file to a resumable endpoint.
type Upload struct {
	// Endpoint is the creation URL (for fileserver: /files/ with a v3 signature, or with a
	// bearer token in Header).
	Endpoint string
	// UploadURL resumes an upload created before (by an earlier run); empty creates one.
	UploadURL string
	// Protocol is Tus or IETF.
	Protocol string
	// Header is added to every request (Authorization, say).
	Header http.Header
	// ChunkSize caps each request's content; 0 takes the server's max-append-size, or the
	// whole rest of the file when the server names none.
	ChunkSize int64
	Retry     Retry
	Client    *http.Client
	Progress  *Progress
	// OnCreate is told the upload URL as soon as it exists, so a caller can record it and
	// resume after its own crash.
	OnCreate func(uploadURL string)
	// Name is the file name announced to the server; empty: the file's base name (Run).
	Name string
}

// Result is what a finished transfer produced.
type Result struct {
	// UploadURL is the upload resource; FileURL where the file is served, when known.
	UploadURL, FileURL string
	Size               int64
	SHA256             string
	// Verified is true when the server's digest was compared with ours and matched.
	Verified bool
}

// ErrDigestMismatch: the server stored something other than what was sent.
var ErrDigestMismatch = errors.New("client: the server's digest differs from the file's")

// Run uploads the file at path.
func (u *Upload) Run(ctx context.Context, path string) (Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	src, err := newFileSource(f)
	if err != nil {
		return Result{}, err
	}
	name := u.Name
	if name == "" {
		name = filepath.Base(path)
	}
	return u.run(ctx, src, name)
}

// RunStream uploads what r gives until its end (a pipe, stdin) under Name, announcing the
// length only with the last request. Only the request in flight is kept for a retry (one
// chunk of memory), so an upload that must go back further than that fails; one resumed
// (UploadURL) reads and skips what the server has, so r must give the same data again.
func (u *Upload) RunStream(ctx context.Context, r io.Reader) (Result, error) {
	return u.run(ctx, newStreamSource(r), u.Name)
}

// defaultStreamChunk is the request size for a stream when neither the caller nor the server
// names one: it is also the memory a stream upload keeps for retries.
const defaultStreamChunk = 8 << 20

func (u *Upload) run(ctx context.Context, src source, name string) (Result, error) {
	u.defaults()
	r := &uploadRun{u: u, src: src, rt: &retrier{ctx: ctx, policy: u.Retry},
		res: Result{UploadURL: u.UploadURL}, offset: -1}
	if r.res.UploadURL == "" {
		if err := r.create(ctx, name); err != nil {
			return r.res, err
		}
	}
	if u.ChunkSize > 0 {
		r.chunk = u.ChunkSize
	}
	for {
		if r.offset < 0 {
			st, complete, err := r.resync(ctx)
			if err != nil {
				return r.res, err
			}
			if complete {
				return r.finish(st)
			}
		}
		st, complete, err := r.send(ctx)
		if err != nil {
			return r.res, err
		}
		if complete {
			return r.finish(st)
		}
	}
}

// uploadRun is one run of an upload: what it has learnt of the upload so far, kept together so
// that each decision the run makes can be a method of its own.
type uploadRun struct {
	u   *Upload
	src source
	rt  *retrier
	res Result
	// chunk is the request size: the caller's, else the server's recommendation, else 0 (the
	// rest of the file).
	chunk int64
	// deferred: the server does not know the length yet (a stream), so the last append says it.
	deferred bool
	// offset is how much the server holds; below 0 it is not known and must be asked for.
	offset int64
}

// create makes the upload resource, because the run was not given one to resume, and takes
// the server's recommended request size from its answer.
func (r *uploadRun) create(ctx context.Context, name string) error {
	loc, limit, err := r.u.createRetrying(ctx, r.src, name, r.rt)
	if err != nil {
		return err
	}
	r.res.UploadURL, r.chunk, r.deferred = loc, limit, r.src.size() < 0
	if r.src.size() != 0 {
		// A new upload holds nothing: no need to ask. (An empty file's upload may be
		// complete from its creation on, which only the server can say.)
		r.offset = 0
		r.u.Progress.Start(0)
	}
	return nil
}

// resync asks the server where the upload stands, retrying as the retrier allows, because on a
// resume or after a failed append only the server knows how much it kept. It reports whether
// the upload is already complete, so that nothing is sent again.
func (r *uploadRun) resync(ctx context.Context) (st state, complete bool, err error) {
	for {
		st, err = r.u.state(ctx, r.res.UploadURL)
		if err == nil {
			break
		}
		if err := r.rt.retry(err); err != nil {
			return state{}, false, err
		}
	}
	r.offset, r.deferred = st.offset, st.length < 0
	if r.chunk == 0 {
		r.chunk = st.maxAppend
	}
	r.u.Progress.Start(r.offset)
	return st, r.completeBefore(st), nil
}

// completeBefore decides from what the server said of the upload, before we send anything,
// that it holds the whole file: it says so, or (tus, which has no completion flag) it holds
// its declared length and that is our file's size.
func (r *uploadRun) completeBefore(st state) bool {
	if st.complete {
		return true
	}
	return r.u.Protocol == Tus && st.length >= 0 && r.offset == st.length && r.offset == r.src.size()
}

// send appends the next chunk at the known offset and reports whether that completed the
// upload. A failed append that may be retried is no error: it leaves the offset unknown,
// because the server may have kept part of what was sent.
func (r *uploadRun) send(ctx context.Context) (st state, complete bool, err error) {
	body, got, last, err := r.src.chunk(r.offset, r.nextSize())
	if err != nil {
		return state{}, false, err
	}
	declare := int64(-1)
	if last && r.deferred {
		declare = r.src.size()
	}
	st, err = r.u.appendChunk(ctx, r.res.UploadURL, body, r.offset, got, last, declare)
	if err != nil {
		r.offset = -1 // ask the server where it stands
		return state{}, false, r.rt.retry(err)
	}
	if st.offset > r.offset {
		r.rt.failures = 0 // progress: the attempts count anew
	}
	r.offset = st.offset
	r.u.Progress.Set(r.offset)
	return st, st.complete || r.u.Protocol == Tus && r.offset == r.src.size(), nil
}

// nextSize decides how much the next request carries: the chunk size when one is known, else
// the rest of the file, else (a stream, whose end is not known) defaultStreamChunk.
func (r *uploadRun) nextSize() int64 {
	if r.chunk > 0 {
		return r.chunk
	}
	if n := r.src.size() - r.offset; n >= 0 {
		return n
	}
	return defaultStreamChunk
}

// finish ends the progress display and fills the result in from the file and the server's last
// answer, failing when the server's digest is not the file's.
func (r *uploadRun) finish(st state) (Result, error) {
	r.u.Progress.Finish()
	r.res.Size, r.res.SHA256 = r.src.size(), r.src.sum()
	r.res.FileURL, r.res.Verified = st.fileURL, st.digest != ""
	return r.res, checkDigest(st.digest, r.res.SHA256)
}

func (u *Upload) defaults() {
	if u.Client == nil {
		u.Client = http.DefaultClient
	}
	if u.Retry.Attempts == 0 {
		u.Retry = DefaultRetry
	}
	if u.Protocol == "" {
		u.Protocol = Tus
	}
}

// createRetrying creates the upload, retrying as rt allows, and tells OnCreate its URL.
func (u *Upload) createRetrying(ctx context.Context, src source, name string, rt *retrier) (loc string, chunk int64, err error) {
	ctype := mime.TypeByExtension(filepath.Ext(name))
	for {
		loc, chunk, err = u.create(ctx, src.size(), name, ctype)
		if err == nil {
			if u.OnCreate != nil {
				u.OnCreate(loc)
			}
			return loc, chunk, nil
		}
		if err := rt.retry(err); err != nil {
			return "", 0, err
		}
	}
}

// retrier counts the failures since the last progress and waits before the next attempt as
// policy says; it gives up on a permanent error, a cancelled context, or too many failures.
type retrier struct {
	ctx      context.Context
	policy   Retry
	failures int
}

func (r *retrier) retry(err error) error {
	if permanent(err) || r.ctx.Err() != nil {
		return err
	}
	if r.failures++; r.failures > r.policy.Attempts {
		return fmt.Errorf("giving up after %d attempts: %w", r.failures, err)
	}
	return r.policy.wait(r.ctx, r.failures-1)
}

// state is what a response told of an upload.
type state struct {
	offset, length, maxAppend int64
	complete                  bool
	digest, fileURL           string
}

func (u *Upload) newRequest(ctx context.Context, method, target string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, err
	}
	for k, vs := range u.Header {
		req.Header[k] = vs
	}
	if u.Protocol == Tus {
		req.Header.Set("Tus-Resumable", "1.0.0")
	} else {
		req.Header.Set("Upload-Draft-Interop-Version", "8")
	}
	return req, nil
}

func (u *Upload) do(req *http.Request, op string, ok ...int) (*http.Response, error) {
	resp, err := u.Client.Do(req)
	if err != nil {
		return nil, err
	}
	for _, s := range ok {
		if resp.StatusCode == s {
			return resp, nil
		}
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	return nil, &StatusError{Op: op, Status: resp.StatusCode, Body: strings.TrimSpace(string(body))}
}

// create makes the upload resource and returns its URL and the append size the server
// recommends (0 when it names none). A size below 0 is not known yet: the last append will
// say it.
func (u *Upload) create(ctx context.Context, size int64, name, ctype string) (string, int64, error) {
	req, err := u.newRequest(ctx, http.MethodPost, u.Endpoint, http.NoBody)
	if err != nil {
		return "", 0, err
	}
	if u.Protocol == Tus {
		if size >= 0 {
			req.Header.Set("Upload-Length", strconv.FormatInt(size, 10))
		} else {
			req.Header.Set("Upload-Defer-Length", "1")
		}
		meta := "filename " + base64.StdEncoding.EncodeToString([]byte(name))
		if ctype != "" {
			meta += ",filetype " + base64.StdEncoding.EncodeToString([]byte(ctype))
		}
		req.Header.Set("Upload-Metadata", meta)
	} else {
		req.Header.Set("Upload-Complete", "?0")
		if size >= 0 {
			req.Header.Set("Upload-Length", strconv.FormatInt(size, 10))
		}
		req.Header.Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": name}))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
	}
	resp, err := u.do(req, "create upload", http.StatusCreated)
	if err != nil {
		return "", 0, err
	}
	resp.Body.Close()
	loc, err := resolve(u.Endpoint, resp.Header.Get("Location"))
	if err != nil {
		return "", 0, fmt.Errorf("create upload: bad Location: %w", err)
	}
	return loc, maxAppendSize(resp.Header.Get("Upload-Limit")), nil
}

// state asks the server for the upload's offset (HEAD), taking over from any request of ours
// that the server still believes in flight.
func (u *Upload) state(ctx context.Context, target string) (state, error) {
	req, err := u.newRequest(ctx, http.MethodHead, target, nil)
	if err != nil {
		return state{}, err
	}
	resp, err := u.do(req, "get offset", http.StatusOK, http.StatusNoContent)
	if err != nil {
		return state{}, err
	}
	resp.Body.Close()
	return u.parseState(target, resp)
}

func (u *Upload) parseState(target string, resp *http.Response) (state, error) {
	h := resp.Header
	off, err := strconv.ParseInt(h.Get("Upload-Offset"), 10, 64)
	if err != nil || off < 0 {
		return state{}, fmt.Errorf("server sent no valid Upload-Offset")
	}
	st := state{offset: off, length: -1, complete: h.Get("Upload-Complete") == "?1",
		digest: h.Get("Repr-Digest"), maxAppend: maxAppendSize(h.Get("Upload-Limit"))}
	if l, err := strconv.ParseInt(h.Get("Upload-Length"), 10, 64); err == nil {
		st.length = l
	}
	if cl := h.Get("Content-Location"); cl != "" {
		st.fileURL, _ = resolve(target, cl)
	}
	return st, nil
}

// appendChunk sends body, n bytes from offset; with last set it ends the upload. length, when
// not -1, declares the total (tus, when creation deferred it).
func (u *Upload) appendChunk(ctx context.Context, target string, body io.Reader, offset, n int64, last bool, length int64) (state, error) {
	if u.Progress != nil {
		body = &offsetProgress{r: body, base: offset, prog: u.Progress}
	}
	req, err := u.newRequest(ctx, http.MethodPatch, target, io.NopCloser(body))
	if err != nil {
		return state{}, err
	}
	req.ContentLength = n
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	if u.Protocol == Tus {
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		if length >= 0 {
			req.Header.Set("Upload-Length", strconv.FormatInt(length, 10))
		}
	} else {
		req.Header.Set("Content-Type", "application/partial-upload")
		req.Header.Set("Upload-Complete", map[bool]string{true: "?1", false: "?0"}[last])
	}
	resp, err := u.do(req, "append", http.StatusNoContent, http.StatusOK, http.StatusCreated)
	if err != nil {
		return state{}, err
	}
	defer resp.Body.Close()
	st, err := u.parseState(target, resp)
	if err != nil {
		return st, err
	}
	if u.Protocol == IETF && st.complete {
		var doc struct {
			URL    string `json:"url"`
			SHA256 string `json:"sha256"`
		}
		if json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&doc) == nil {
			if st.fileURL == "" {
				st.fileURL = doc.URL
			}
			if st.digest == "" && doc.SHA256 != "" {
				if b, err := hex.DecodeString(doc.SHA256); err == nil {
					st.digest = "sha-256=:" + base64.StdEncoding.EncodeToString(b) + ":"
				}
			}
		}
	}
	return st, nil
}

// offsetProgress reports absolute file positions while a chunk is read.
type offsetProgress struct {
	r    io.Reader
	base int64
	n    int64
	prog *Progress
}

func (o *offsetProgress) Read(b []byte) (int, error) {
	n, err := o.r.Read(b)
	o.n += int64(n)
	o.prog.Set(o.base + o.n)
	return n, err
}

// checkDigest compares an RFC 9530 Repr-Digest with our hex SHA-256; no digest passes.
func checkDigest(header, sha256hex string) error {
	if header == "" {
		return nil
	}
	for _, member := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(member), "=")
		if !ok || strings.TrimSpace(k) != "sha-256" {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(strings.Trim(strings.TrimSpace(v), ":"))
		if err != nil || hex.EncodeToString(b) != sha256hex {
			return ErrDigestMismatch
		}
		return nil
	}
	return nil
}

// maxAppendSize reads max-append-size from an Upload-Limit dictionary; 0 when absent.
func maxAppendSize(limit string) int64 {
	for _, member := range strings.Split(limit, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(member), "=")
		if ok && k == "max-append-size" {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n > 0 {
				return n
			}
		}
	}
	return 0
}

func resolve(base, ref string) (string, error) {
	if ref == "" {
		return "", errors.New("empty")
	}
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	r, err := url.Parse(ref)
	if err != nil {
		return "", err
	}
	return b.ResolveReference(r).String(), nil
}
