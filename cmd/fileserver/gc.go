package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"
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
	backend, closeStorage, err := openStorage(cfg.Storage, nil, nil)
	if err != nil {
		fmt.Fprintln(stderr, "fileserver gc:", err)
		return 1
	}
	defer closeStorage()
	if !*dryRun {
		// The thumbnails of what is removed go with it, as when the server's reaper runs.
		_, closeThumbs, err := openThumbs(cfg, backend, nil)
		if err != nil {
			fmt.Fprintln(stderr, "fileserver gc:", err)
			return 1
		}
		defer closeThumbs()
	}
	res, err := backend.Reaper.Reap(context.Background(), time.Now(), cfg.Upload.TTL.D(), *dryRun)
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
