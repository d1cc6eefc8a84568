package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"fileserver/internal/storage"
)

// gc removes expired files now, as the server's reaper would, or with --dry-run lists them.
func gc(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("gc", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var cf configFlags
	cf.register(fl)
	dryRun := fl.Bool("dry-run", false, "list what would be removed, remove nothing")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	cfg, err := cf.load()
	if err != nil {
		fmt.Fprintln(stderr, "fileserver gc:", err)
		return 1
	}
	var store reaper
	if cfg.Storage.Backend == "s3" {
		store, err = openS3(cfg.Storage, nil, nil)
	} else {
		var local *storage.Local
		if local, err = storage.OpenLocal(cfg.Storage.Path, storage.LocalOptions{Fsync: cfg.Storage.Fsync}); err == nil {
			defer local.Close()
			store = local
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "fileserver gc:", err)
		return 1
	}
	res, err := store.Reap(context.Background(), time.Now(), cfg.Upload.TTL.D(), *dryRun)
	verb := "removed"
	if *dryRun {
		verb = "would remove"
	}
	for _, f := range res.Files {
		fmt.Fprintf(stdout, "%s %s (%d bytes, expired %s)\n", verb, f.Name, f.Size, f.Expires.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(stdout, "%s %d files, %d bytes\n", verb, len(res.Files), res.Bytes)
	if err != nil {
		fmt.Fprintln(stderr, "fileserver gc:", err)
		return 1
	}
	return 0
}
