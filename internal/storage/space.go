package storage

import "golang.org/x/sys/unix"

// DiskSpace reports the free (available to this process) and total bytes of the filesystem
// that holds the data directory.
func (l *Local) DiskSpace() (free, total int64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(l.root.Name(), &st); err != nil {
		return 0, 0, mapErr("statfs", err)
	}
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Blocks) * int64(st.Bsize), nil
}
