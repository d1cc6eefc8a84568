package handlers

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"strings"

	"fileserver/internal/hmacauth"
)

// postResult is the JSON body of a successful POST.
type postResult struct {
	URL         string `json:"url"`
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type"`
	SHA256      string `json:"sha256,omitempty"`
}

// post uploads with a v3 signed URL or a bearer token, the body either raw or as a
// multipart/form-data form whose first file part is the file. A URL ending in "/" names a
// directory, and the file keeps the name the form gives it. Answers 201 with JSON giving the
// download URL.
func (s *xep) post(w http.ResponseWriter, r *http.Request) error {
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "multipart/form-data" {
		return s.postForm(w, r, params["boundary"])
	}
	name, err := s.fileName(r)
	if err != nil {
		return err
	}
	g, err := s.authorizePost(r, name, r.ContentLength)
	if err != nil {
		return err
	}
	declared := r.Header.Get("Content-Type")
	if g.Scheme == hmacauth.SchemeToken {
		declared = g.ContentType
	} else if bareType(declared) == "application/x-www-form-urlencoded" {
		// A raw body is no form: that is what curl --data-binary declares by default. The
		// file's name says better what it is.
		declared = ""
	}
	return s.finishPost(w, r, name, r.Body, r.ContentLength, g, declared)
}

func (s *xep) postForm(w http.ResponseWriter, r *http.Request, boundary string) error {
	if boundary == "" {
		return errorf(http.StatusBadRequest, "multipart body without boundary")
	}
	dir := strings.HasSuffix(r.URL.Path, "/")
	var name string
	if !dir {
		n, err := s.fileName(r)
		if err != nil {
			return err
		}
		name = n
	}
	// Authorize before reading the body. Through a form, the file's own size is unknown.
	authName := name
	if dir {
		if err := checkEscapes(r); err != nil {
			return err
		}
		authName = strings.TrimPrefix(r.URL.Path, s.cfg.UploadPrefix)
	}
	g, err := s.authorizePost(r, authName, -1)
	if err != nil {
		return err
	}
	mr := multipart.NewReader(r.Body, boundary)
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return errorf(http.StatusBadRequest, "form has no file part")
		}
		if err != nil {
			return &Error{Status: http.StatusBadRequest, Msg: "malformed multipart body", Err: err}
		}
		if part.FileName() == "" {
			part.Close()
			continue
		}
		if dir {
			base := path.Base(strings.ReplaceAll(part.FileName(), "\\", "/"))
			name = authName + base
			if authName == "" || authName == "/" {
				name = base
			}
		}
		declared := part.Header.Get("Content-Type")
		if g.Scheme == hmacauth.SchemeToken {
			declared = g.ContentType // the type the token signed, as for a raw POST
		}
		err = s.finishPost(w, r, name, part, -1, g, declared)
		part.Close()
		return err
	}
}

// authorizePost accepts only the schemes that authorize POST: v3 and bearer tokens.
func (s *xep) authorizePost(r *http.Request, name string, size int64) (hmacauth.Grant, error) {
	g, err := s.authorize(r, name, size)
	if err != nil {
		return g, err
	}
	if g.Scheme != hmacauth.SchemeV3 && g.Scheme != hmacauth.SchemeToken {
		s.stats.AuthFailures.Add(1, presentedScheme(r), "scheme_not_allowed")
		return g, errorf(http.StatusForbidden, "POST needs a v3 signed URL or a bearer token")
	}
	return g, nil
}

func (s *xep) finishPost(w http.ResponseWriter, r *http.Request, name string, body io.Reader, size int64, g hmacauth.Grant, declared string) error {
	want, err := s.precheck(r, name, size, g, false)
	if err != nil {
		return err
	}
	meta, err := s.accept(w, r, name, body, want, g, fileMeta(storedType(declared, name), s.uploaderKey(r, g), g))
	if err != nil {
		return err
	}
	out, _ := json.Marshal(postResult{
		URL: s.downloadURL(r, name), Name: name, Size: meta.Size,
		ContentType: meta.ContentType, SHA256: meta.SHA256,
	})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	w.Write(append(out, '\n'))
	return nil
}
