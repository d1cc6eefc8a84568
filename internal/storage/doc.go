// Package storage keeps complete uploaded files. The Store interface is what handlers and
// resumable sessions write through; Local is the default backend on local disk.
//
// It must never expose a partial file, never replace an existing file, and never touch a path
// outside its data directory: every path is resolved through an os.Root, uploads are written
// to a temporary file and committed with a hard link (which fails if the name exists), and
// nothing is visible under a name before its bytes are synced.
package storage
