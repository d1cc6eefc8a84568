package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

// healthcheck asks the local server's /healthz, for a container HEALTHCHECK where no curl is
// installed. Exit 0 healthy, 1 not.
func healthcheck(args []string, stderr io.Writer) int {
	fl := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var cf configFlags
	cf.register(fl)
	if err := fl.Parse(args); err != nil {
		return 2
	}
	cfg, err := cf.load()
	if err != nil {
		fmt.Fprintln(stderr, "fileserver healthcheck:", err)
		return 1
	}
	scheme := "http"
	if cfg.Server.TLSCert != "" {
		scheme = "https"
	}
	client := &http.Client{
		Timeout: 3 * time.Second,
		// The certificate names the public host, not the loopback address we dial.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	resp, err := client.Get(scheme + "://" + localAddr(cfg.Server.Listen) + "/healthz")
	if err != nil {
		fmt.Fprintln(stderr, "fileserver healthcheck:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(stderr, "fileserver healthcheck: status", resp.Status)
		return 1
	}
	return 0
}
