package client

import (
	"context"
	"crypto/sha256"
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
	st, err := f.Stat()
	if err != nil {
		return Result{}, err
	}
	size := st.Size()
	sum, err := fileSHA256(f)
	if err != nil {
		return Result{}, err
	}
	if u.Client == nil {
		u.Client = http.DefaultClient
	}
	if u.Retry.Attempts == 0 {
		u.Retry = DefaultRetry
	}
	if u.Protocol == "" {
		u.Protocol = Tus
	}
	res := Result{UploadURL: u.UploadURL, Size: size, SHA256: sum}
	name := filepath.Base(path)
	ctype := mime.TypeByExtension(filepath.Ext(name))

	failures := 0
	retry := func(err error) error {
		if permanent(err) || ctx.Err() != nil {
			return err
		}
		if failures++; failures > u.Retry.Attempts {
			return fmt.Errorf("giving up after %d attempts: %w", failures, err)
		}
		return u.Retry.wait(ctx, failures-1)
	}
	var chunk int64
	for res.UploadURL == "" {
		loc, limit, err := u.create(ctx, size, name, ctype)
		if err == nil {
			res.UploadURL, chunk = loc, limit
			if u.OnCreate != nil {
				u.OnCreate(loc)
			}
			break
		}
		if err := retry(err); err != nil {
			return res, err
		}
	}
	if u.ChunkSize > 0 {
		chunk = u.ChunkSize
	}
	offset := int64(-1)
	for {
		if offset < 0 {
			st, err := u.state(ctx, res.UploadURL)
			if err != nil {
				if err := retry(err); err != nil {
					return res, err
				}
				continue
			}
			offset = st.offset
			if chunk == 0 {
				chunk = st.maxAppend
			}
			u.Progress.Start(offset)
			if st.complete || u.Protocol == Tus && offset == size && st.length == size {
				res.FileURL, res.Verified, err = st.fileURL, st.digest != "", checkDigest(st.digest, sum)
				return res, err
			}
		}
		n := size - offset
		if chunk > 0 && n > chunk {
			n = chunk
		}
		st, err := u.appendChunk(ctx, res.UploadURL, f, offset, n, offset+n == size)
		if err != nil {
			offset = -1 // ask the server where it stands
			if err := retry(err); err != nil {
				return res, err
			}
			continue
		}
		if st.offset > offset {
			failures = 0
		}
		offset = st.offset
		u.Progress.Set(offset)
		if st.complete || offset == size && u.Protocol == Tus {
			u.Progress.Finish()
			res.FileURL, res.Verified = st.fileURL, st.digest != ""
			return res, checkDigest(st.digest, sum)
		}
	}
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
// recommends (0 when it names none).
func (u *Upload) create(ctx context.Context, size int64, name, ctype string) (string, int64, error) {
	req, err := u.newRequest(ctx, http.MethodPost, u.Endpoint, http.NoBody)
	if err != nil {
		return "", 0, err
	}
	if u.Protocol == Tus {
		req.Header.Set("Upload-Length", strconv.FormatInt(size, 10))
		meta := "filename " + base64.StdEncoding.EncodeToString([]byte(name))
		if ctype != "" {
			meta += ",filetype " + base64.StdEncoding.EncodeToString([]byte(ctype))
		}
		req.Header.Set("Upload-Metadata", meta)
	} else {
		req.Header.Set("Upload-Complete", "?0")
		req.Header.Set("Upload-Length", strconv.FormatInt(size, 10))
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

// appendChunk sends n bytes of f from offset.
func (u *Upload) appendChunk(ctx context.Context, target string, f *os.File, offset, n int64, last bool) (state, error) {
	var body io.Reader = io.NewSectionReader(f, offset, n)
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

func fileSHA256(f *os.File) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, 1<<62)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
