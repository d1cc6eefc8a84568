package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

// ImportResult says what Import did with a file.
type ImportResult int

// What Import did.
const (
	Imported ImportResult = iota // stored under its name now
	Present                      // the same file was already stored under it (a second run)
)

// Import adopts a file of another server's storage tree, at src (an absolute path outside
// the data directory), under name: as a hard link to it (the same bytes, no copy; both trees
// must be on one filesystem) or, with copy, as a copy. The file is not changed. Its metadata
// are meta's (the type), with its size and its modification time as its upload time (so
// upload.ttl counts from when it was uploaded there); with checksums on its digest is
// computed from its bytes. A name holding another file is ErrExists; the same file (a
// second run: the same inode, or for a copy the same size and digest) is Present, and its
// metadata are written if a crash left them out. Nothing is half done: a crash before the
// link leaves nothing, after it the file whose metadata the next run writes.
func (l *Local) Import(ctx context.Context, src, name string, meta Meta, copy bool) (ImportResult, error) {
	st, err := l.importable(src, name)
	if err != nil {
		return 0, err
	}
	meta.Name, meta.Size, meta.Created = name, st.Size(), st.ModTime()
	if cur, err := l.root.Lstat(filePath(name)); err == nil && os.SameFile(st, cur) {
		if _, ok := l.sidecar(name, cur); ok {
			return Present, nil // a second run: nothing to read again
		}
	}
	if l.opts.Checksum && meta.SHA256 == "" {
		if meta.SHA256, err = fileDigest(ctx, src); err != nil {
			return 0, err
		}
	}
	if present, err := l.alreadyImported(src, st, name, meta); present || err != nil {
		return Present, err
	}
	if err := l.place(src, st, meta, copy); err != nil {
		return 0, err
	}
	if err := l.writeMeta(meta); err != nil {
		return 0, err
	}
	l.files.Add(1)
	l.bytes.Add(meta.Size)
	l.indexContent(meta.SHA256, name)
	return Imported, nil
}

// importable checks that src is a regular file and name a name it may be stored under.
func (l *Local) importable(src, name string) (fs.FileInfo, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	st, err := os.Lstat(src)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", src)
	}
	if l.linkOnPath(path.Dir(filePath(name))) {
		return nil, ErrEscapes
	}
	return st, nil
}

// place puts src's bytes under meta.Name (a link, or a copy), after its expiry record, and
// syncs the directories with storage.fsync.
func (l *Local) place(src string, st fs.FileInfo, meta Meta, copy bool) error {
	dst := filePath(meta.Name)
	if err := l.record(meta.Name, meta.Created, meta.Expires); err != nil {
		return err
	}
	if err := l.root.MkdirAll(path.Dir(dst), 0o750); err != nil {
		return mapErr("create directory", err)
	}
	var err error
	if copy {
		err = l.importCopy(src, dst, st)
	} else {
		err = os.Link(src, filepath.Join(l.root.Name(), filepath.FromSlash(dst)))
	}
	if errors.Is(err, fs.ErrExist) {
		return ErrExists
	}
	if err != nil {
		return fmt.Errorf("storage: import %s: %w", meta.Name, err)
	}
	return l.syncUp(path.Dir(dst))
}

// alreadyImported tells whether name holds src already (the same inode, or a copy of the same
// size and digest), writing its metadata when they are missing.
func (l *Local) alreadyImported(src string, st fs.FileInfo, name string, meta Meta) (bool, error) {
	cur, err := l.root.Lstat(filePath(name))
	if err != nil {
		return false, nil
	}
	same := os.SameFile(st, cur)
	if !same && cur.Mode().IsRegular() && cur.Size() == st.Size() && meta.SHA256 != "" {
		sum, err := l.digest(name)
		same = err == nil && sum == meta.SHA256
	}
	if !same {
		return false, ErrExists
	}
	if _, ok := l.sidecar(name, cur); !ok {
		return true, l.writeMeta(meta)
	}
	return true, nil
}

// importCopy copies src to dst (a path in the data directory) through a temporary file,
// synced with storage.fsync, keeping src's modification time.
func (l *Local) importCopy(src, dst string, st fs.FileInfo) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := tmpDir + "/" + RandomID() + ".import"
	out, err := l.root.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	defer l.root.Remove(tmp)
	_, err = io.CopyBuffer(out, in, make([]byte, 1<<20))
	if err == nil && l.opts.Fsync {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = l.root.Chtimes(tmp, st.ModTime(), st.ModTime())
	}
	if err == nil {
		err = l.root.Link(tmp, dst)
	}
	return err
}

// fileDigest is the hex SHA-256 of the file at p.
func fileDigest(ctx context.Context, p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := f.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			return hex.EncodeToString(h.Sum(nil)), nil
		}
		if err != nil {
			return "", err
		}
	}
}
