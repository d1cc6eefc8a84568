package storage

import (
	"context"
	"strconv"

	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ImportResult says what Import did with a file.
type ImportResult int

// What Import did.
const (
	Imported ImportResult = iota // stored under its name now
	Present                      // the same file was already stored under it (a second run)
)

// Import adopts a file of another server's storage tree, src (opened by the caller, who
// checked it is the file it planned to adopt), under name: as a hard link to it (the same
// bytes, no copy; both trees must be on one filesystem) or, with copy, as a copy. The link is
// made to the open file itself (through /proc/self/fd), so no path can be swapped for a
// symbolic link between the check and the link. The file is not changed. Its metadata are
// meta's (the type), with its size and its modification time as its upload time (so
// upload.ttl counts from when it was uploaded there); with checksums on its digest is
// computed from the bytes adopted. A name holding another file is ErrExists; the same file
// (a second run: the same inode, or for a copy the same size and digest) is Present, and its
// metadata are written if a crash left them out. A hard-linked file stays the old server's
// inode too, so it is not offered to deduplication (the old tree could change it).
func (l *Local) Import(ctx context.Context, src *os.File, name string, meta Meta, copy bool) (ImportResult, error) {
	st, err := l.importable(src, name)
	if err != nil {
		return 0, err
	}
	meta.Name, meta.Size, meta.Created = name, st.Size(), st.ModTime()
	if cur, err := l.root.Lstat(filePath(name)); err == nil && os.SameFile(st, cur) {
		if !l.readMeta(name, cur).Derived {
			return Present, nil // a second run: nothing to read again
		}
	}
	if l.opts.Checksum && !copy {
		if meta.SHA256, err = fileDigest(ctx, src); err != nil {
			return 0, err
		}
	}
	if present, err := l.alreadyImported(st, name, meta, copy); present || err != nil {
		return Present, err
	}
	if meta, err = l.place(src, st, meta, copy); err != nil {
		return 0, err
	}
	if err := l.writeMeta(meta); err != nil {
		return 0, err
	}
	l.files.Add(1)
	l.bytes.Add(meta.Size)
	if copy {
		l.indexContent(meta.SHA256, name)
	}
	return Imported, nil
}

// importable checks that src is a regular file and name a name it may be stored under.
func (l *Local) importable(src *os.File, name string) (fs.FileInfo, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	st, err := src.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", src.Name())
	}
	if l.linkOnPath(path.Dir(filePath(name))) {
		return nil, ErrEscapes
	}
	return st, nil
}

// place puts src's bytes under meta.Name (a link, or a copy whose digest it computes as it
// copies), after its expiry record, and syncs the directories with storage.fsync.
func (l *Local) place(src *os.File, st fs.FileInfo, meta Meta, copy bool) (Meta, error) {
	dst := filePath(meta.Name)
	if err := l.record(meta.Name, meta.Created, meta.Expires); err != nil {
		return meta, err
	}
	if err := l.root.MkdirAll(path.Dir(dst), 0o750); err != nil {
		return meta, mapErr("create directory", err)
	}
	var err error
	if copy {
		meta.SHA256, err = l.importCopy(src, dst, st)
	} else {
		err = unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(int(src.Fd())),
			unix.AT_FDCWD, filepath.Join(l.root.Name(), filepath.FromSlash(dst)), unix.AT_SYMLINK_FOLLOW)
	}
	if errors.Is(err, fs.ErrExist) {
		return meta, ErrExists
	}
	if err != nil {
		return meta, fmt.Errorf("storage: import %s: %w", meta.Name, err)
	}
	return meta, l.syncUp(path.Dir(dst))
}

// alreadyImported tells whether name holds the file already (the same inode; for a copy,
// a regular file of the same size, whose digest the sidecar names), writing its metadata
// when they are missing.
func (l *Local) alreadyImported(st fs.FileInfo, name string, meta Meta, copy bool) (bool, error) {
	cur, err := l.root.Lstat(filePath(name))
	if err != nil {
		return false, nil
	}
	same := os.SameFile(st, cur)
	side := l.readMeta(name, cur)
	if !same && copy && cur.Mode().IsRegular() && cur.Size() == st.Size() && !side.Derived && side.SHA256 != "" {
		same = true // copied before (a second run)
	}
	if !same {
		return false, ErrExists
	}
	if side.Derived {
		return true, l.writeMeta(meta)
	}
	return true, nil
}

// importCopy copies src to dst (a path in the data directory) through a temporary file,
// synced with storage.fsync, keeping src's modification time; it returns the digest of the
// bytes it copied.
func (l *Local) importCopy(src *os.File, dst string, st fs.FileInfo) (string, error) {
	tmp := tmpDir + "/" + RandomID() + ".import"
	out, err := l.root.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return "", err
	}
	defer l.root.Remove(tmp)
	h := sha256.New()
	_, err = io.CopyBuffer(io.MultiWriter(out, h), io.NewSectionReader(src, 0, st.Size()), make([]byte, 1<<20))
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
	return hex.EncodeToString(h.Sum(nil)), err
}

// fileDigest is the hex SHA-256 of the open file f, read from its start.
func fileDigest(ctx context.Context, f *os.File) (string, error) {
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for off := int64(0); ; {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := f.ReadAt(buf, off)
		h.Write(buf[:n])
		off += int64(n)
		if err == io.EOF {
			return hex.EncodeToString(h.Sum(nil)), nil
		}
		if err != nil {
			return "", err
		}
	}
}
