package storage

import (
	"errors"
	"path"
	"sync/atomic"
	"syscall"
)

// Deduplication (LocalOptions.Dedup): an upload whose size and SHA-256 equal a stored file's
// is committed as a hard link to that file, so the bytes exist once. Each name keeps its own
// sidecar (type, uploader, lifetime) and is counted on its own (quota, usage); removing one
// name removes a link, never another name's bytes. Files are never changed after their
// commit, so sharing their data is safe.
//
// The content index maps a digest to one stored name with that content: index/content/
// ab/abcdef... holds the name. It is a hint: a name found there is used only when its file
// is still there, regular, of the same size, and its sidecar names the same digest;
// otherwise the new file is stored as usual and takes its place in the index.

const contentDir = "index/content"

func contentPath(sum string) string { return contentDir + "/" + sum[:2] + "/" + sum }

// DedupStats counts what deduplication saved since start.
type DedupStats struct{ files, bytes atomic.Int64 }

// Deduplicated is how many uploads were stored as links to bytes already there, and how many
// bytes they did not store again, since start.
func (l *Local) Deduplicated() (files, bytes int64) {
	return l.dedup.files.Load(), l.dedup.bytes.Load()
}

// twin is the name of a stored file with this digest and size, or "".
func (l *Local) twin(sum string, size int64) string {
	if !l.opts.Dedup || len(sum) != 64 {
		return ""
	}
	data, err := l.root.ReadFile(contentPath(sum))
	if err != nil {
		return ""
	}
	name := string(data)
	if ValidName(name) != nil || l.linkOnPath(path.Dir(filePath(name))) {
		return ""
	}
	st, err := l.root.Lstat(filePath(name))
	if err != nil || !st.Mode().IsRegular() || st.Size() != size {
		return ""
	}
	if m := l.readMeta(name, st); m.Derived || m.SHA256 != sum {
		return ""
	}
	return name
}

// linkTwin commits name as a link to a stored file with the same content, when there is one;
// linked tells whether it did. A twin removed meanwhile is no error: the caller stores its
// own copy.
func (l *Local) linkTwin(sum string, size int64, name string, meta Meta) (linked bool, err error) {
	twin := l.twin(sum, size)
	if twin == "" {
		return false, nil
	}
	if err := l.link(filePath(twin), name, meta.Expires); err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, syscall.EMLINK) {
			// Gone meanwhile, or linked as often as the filesystem allows (65,000 on ext4):
			// this upload's own copy is stored, and becomes the one the index names.
			return false, nil
		}
		return false, err
	}
	l.dedup.files.Add(1)
	l.dedup.bytes.Add(size)
	return true, nil
}

// unindexContent forgets that name holds the content with digest sum, if the index says so:
// the index holds one small file per content it names, and without this every content ever
// stored would keep its entry after its last name went. An entry that names another name
// (a twin that stays) is left alone.
func (l *Local) unindexContent(sum, name string) {
	if len(sum) != 64 {
		return
	}
	p := contentPath(sum)
	if data, err := l.root.ReadFile(p); err == nil && string(data) == name {
		l.root.Remove(p)
	}
}

// indexContent records name as holding the content with digest sum (a hint: not synced).
func (l *Local) indexContent(sum, name string) {
	if !l.opts.Dedup || len(sum) != 64 {
		return
	}
	p := contentPath(sum)
	if l.root.MkdirAll(path.Dir(p), 0o750) == nil {
		ReplaceFile(l.root, tmpDir+"/"+RandomID()+".content", p, []byte(name), false)
	}
}
