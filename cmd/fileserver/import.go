package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"fileserver/internal/handlers"
	"fileserver/internal/storage"
)

// The servers whose storage trees import knows.
var importFrom = map[string]bool{"prosody-filer": true, "hmac-file-server": true}

// importCmd adopts another server's storage tree: every file under --source becomes the
// stored file of the same relative name, so that its old URL (prefix + name) keeps working
// with upload.prefix set to that prefix. See docs/migrating.md.
func importCmd(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("import", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var cf configFlags
	cf.register(fl)
	from := fl.String("from", "", "the server the tree comes from: prosody-filer or hmac-file-server")
	source := fl.String("source", "", "the directory whose files are served under the upload prefix "+
		"(prosody-filer: storeDir; hmac-file-server: storage_path, or its subdirectory named like the URL prefix)")
	copyFiles := fl.Bool("copy", false, "copy the files instead of hard-linking them (another filesystem)")
	dryRun := fl.Bool("dry-run", false, "list what would be imported and what cannot be, change nothing")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if !importFrom[*from] || *source == "" {
		fmt.Fprintln(stderr, "usage: fileserver import --from prosody-filer|hmac-file-server --source DIR [--copy] [--dry-run] [--config FILE]")
		return 2
	}
	cfg, err := cf.load()
	if err != nil {
		fmt.Fprintln(stderr, "fileserver import:", err)
		return 1
	}
	if cfg.Storage.Backend != "local" && cfg.Storage.Backend != "" {
		fmt.Fprintln(stderr, "fileserver import: only local storage imports a tree (storage.backend is", cfg.Storage.Backend+")")
		return 1
	}
	src, err := sourceDir(*source, cfg.Storage.Path)
	if err != nil {
		fmt.Fprintln(stderr, "fileserver import:", err)
		return 1
	}
	plan, err := planImport(src, *from, cfg.Storage.Path)
	if err != nil {
		fmt.Fprintln(stderr, "fileserver import:", err)
		return 1
	}
	for _, s := range plan.skipped {
		fmt.Fprintf(stdout, "skip %s: %s\n", s.path, s.reason)
	}
	if *dryRun {
		for _, f := range plan.files {
			fmt.Fprintf(stdout, "would import %s (%d bytes)\n", f.name, f.size)
		}
		fmt.Fprintf(stdout, "would import %d files, %d bytes; %d skipped\n", len(plan.files), plan.bytes, len(plan.skipped))
		return 0
	}
	local, err := storage.OpenLocal(cfg.Storage.Path, storage.LocalOptions{Fsync: cfg.Storage.Fsync, Checksum: cfg.Storage.Checksum,
		Dedup: cfg.Storage.Dedup && cfg.Storage.Checksum})
	if err != nil {
		fmt.Fprintln(stderr, "fileserver import:", err)
		return 1
	}
	defer local.Close()
	root, err := os.OpenRoot(src)
	if err != nil {
		fmt.Fprintln(stderr, "fileserver import:", err)
		return 1
	}
	defer root.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runImport(ctx, local, root, plan, *copyFiles, stdout, stderr)
}

// sourceDir is the source tree's real path (symbolic links resolved), refused when it is the
// data directory or lies within it: that would publish fileserver's own state.
func sourceDir(source, dataDir string) (string, error) {
	src, err := filepath.EvalSymlinks(source)
	if err != nil {
		return "", err
	}
	if src, err = filepath.Abs(src); err != nil {
		return "", err
	}
	data, err := filepath.Abs(dataDir)
	if err != nil {
		return "", err
	}
	if real, err := filepath.EvalSymlinks(data); err == nil {
		data = real
	}
	if src == data || strings.HasPrefix(src, data+string(filepath.Separator)) {
		return "", fmt.Errorf("--source %s is fileserver's own data directory (storage.path) or lies within it", src)
	}
	return src, nil
}

// openPlanned opens a planned file through the source tree's root (which a symbolic link
// cannot lead out of) and checks it is still the regular file the plan saw.
func openPlanned(root *os.Root, f importFile) (*os.File, error) {
	st, err := root.Lstat(filepath.FromSlash(f.name))
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New("no longer a regular file")
	}
	file, err := root.Open(filepath.FromSlash(f.name))
	if err != nil {
		return nil, err
	}
	if ost, err := file.Stat(); err != nil || !os.SameFile(st, ost) {
		file.Close()
		return nil, errors.New("changed while it was being opened")
	}
	return file, nil
}

// importFile is one file to adopt (its name under --source); skipped one that cannot be,
// and why.
type importFile struct {
	name string
	size int64
}

type skipped struct{ path, reason string }

type importPlan struct {
	files   []importFile
	skipped []skipped
	bytes   int64
}

// planImport walks the source tree (never following a symbolic link) and sorts its entries
// into files to adopt and what cannot be adopted, with the reason. Of an hmac-file-server
// tree, its own state (metadata database, upload sessions, thumbnails beside their images)
// is left, listed as such.
func planImport(src, from, dataDir string) (importPlan, error) {
	var plan importPlan
	data, _ := filepath.Abs(dataDir)
	st, err := os.Stat(src)
	if err != nil || !st.IsDir() {
		return plan, fmt.Errorf("--source %s is not a directory", src)
	}
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(src, p)
		name := filepath.ToSlash(rel)
		switch {
		case err != nil:
			plan.skipped = append(plan.skipped, skipped{name, "cannot be read: " + err.Error()})
			return nil
		case p == src:
			return nil
		case d.IsDir() && p == data:
			plan.skipped = append(plan.skipped, skipped{name + "/", "fileserver's own data directory"})
			return filepath.SkipDir
		case d.IsDir():
			if why := serverState(from, src, name, true); why != "" {
				plan.skipped = append(plan.skipped, skipped{name + "/", why})
				return filepath.SkipDir
			}
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			plan.skipped = append(plan.skipped, skipped{name, "a symbolic link (not followed: import its target instead)"})
			return nil
		case !d.Type().IsRegular():
			plan.skipped = append(plan.skipped, skipped{name, "not a regular file"})
			return nil
		}
		if why := serverState(from, src, name, false); why != "" {
			plan.skipped = append(plan.skipped, skipped{name, why})
			return nil
		}
		if err := storage.ValidName(name); err != nil {
			plan.skipped = append(plan.skipped, skipped{name, "a name fileserver refuses (" + err.Error() + ")"})
			return nil
		}
		info, err := d.Info()
		if err != nil {
			plan.skipped = append(plan.skipped, skipped{name, "cannot be read: " + err.Error()})
			return nil
		}
		plan.files = append(plan.files, importFile{name: name, size: info.Size()})
		plan.bytes += info.Size()
		return nil
	})
	return plan, err
}

// serverState says why an entry of the source tree is the old server's own state rather
// than an upload ("" when it is an upload).
func serverState(from, src, name string, dir bool) string {
	if from != "hmac-file-server" {
		return ""
	}
	switch {
	case dir && name == ".metadata":
		return "hmac-file-server's metadata database (it holds nothing the files do not: no expiry, no uploader for XMPP uploads)"
	case dir && name == ".upload_sessions":
		return "hmac-file-server's unfinished chunked uploads"
	case !dir && strings.HasSuffix(name, ".thumb.jpg") && hasImage(filepath.Join(src, filepath.FromSlash(strings.TrimSuffix(name, ".thumb.jpg")))):
		return "hmac-file-server's thumbnail of the image beside it (fileserver makes its own, [thumbnails])"
	}
	return ""
}

// hasImage tells whether an image named base plus one of the extensions hmac-file-server
// makes thumbnails of exists: a file named x.thumb.jpg is a user's own file otherwise.
func hasImage(base string) bool {
	for _, ext := range []string{".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tiff", ".tif", ".webp"} {
		if st, err := os.Lstat(base + ext); err == nil && st.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// runImport adopts the planned files, with a progress line on stderr every second, and says
// what it did. A second run skips what the first did.
func runImport(ctx context.Context, local *storage.Local, root *os.Root, plan importPlan, copyFiles bool, stdout, stderr io.Writer) int {
	var done, present, failed int
	var bytes int64
	start, last := time.Now(), time.Now()
	for _, f := range plan.files {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "fileserver import: interrupted; run it again to go on")
			break
		}
		res, err := importOne(ctx, local, root, f, copyFiles)
		switch {
		case errors.Is(err, storage.ErrExists):
			failed++
			fmt.Fprintf(stdout, "skip %s: fileserver already stores another file under this name\n", f.name)
		case err != nil:
			failed++
			fmt.Fprintf(stdout, "skip %s: %v\n", f.name, err)
		case res == storage.Present:
			present++
		default:
			done++
		}
		bytes += f.size
		if time.Since(last) >= time.Second {
			last = time.Now()
			fmt.Fprintf(stderr, "\r%d/%d files, %d/%d MB, %.0f files/s", done+present+failed, len(plan.files), bytes>>20, plan.bytes>>20,
				float64(done+present+failed)/time.Since(start).Seconds())
		}
	}
	fmt.Fprintf(stdout, "imported %d files, %d were there already, %d not imported, %d skipped (%.1f s)\n",
		done, present, failed, len(plan.skipped), time.Since(start).Seconds())
	if failed > 0 || ctx.Err() != nil {
		return 1
	}
	return 0
}

func importOne(ctx context.Context, local *storage.Local, root *os.Root, f importFile, copyFiles bool) (storage.ImportResult, error) {
	file, err := openPlanned(root, f)
	if err != nil {
		return 0, err
	}
	defer file.Close()
	return local.Import(ctx, file, f.name, storage.Meta{ContentType: handlers.TypeByName(f.name)}, copyFiles)
}
