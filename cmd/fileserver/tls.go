package main

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// certReloader serves a certificate from files and reloads it when they change, so renewing
// a certificate (certbot, acme.sh) needs no restart. It checks at most every few seconds.
type certReloader struct {
	certFile, keyFile string
	mu                sync.Mutex
	cert              *tls.Certificate
	stamp             string
	checked           time.Time
	interval          time.Duration
}

const certCheckInterval = 5 * time.Second

func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile, interval: certCheckInterval}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *certReloader) fileStamp() string {
	var s string
	for _, f := range []string{c.certFile, c.keyFile} {
		if st, err := os.Stat(f); err == nil {
			s += fmt.Sprintf("%d/%d;", st.ModTime().UnixNano(), st.Size())
		}
	}
	return s
}

func (c *certReloader) reload() error {
	stamp := c.fileStamp()
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate: %w", err)
	}
	c.cert, c.stamp = &cert, stamp
	return nil
}

func (c *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checked) >= c.interval {
		c.checked = time.Now()
		if c.fileStamp() != c.stamp {
			// A half-written pair fails to load: keep serving the old one until it is whole.
			_ = c.reload()
		}
	}
	return c.cert, nil
}
