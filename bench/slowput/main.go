// Command slowput keeps many rate-limited XEP-0363 uploads in flight at once against a
// fileserver, then fetches every file back and checks it byte for byte. It is the client of
// the "500 slow uploads under a 64 MiB budget" benchmark (bench/slow-uploads.sh).
package main

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"fileserver/internal/hmacauth"
)

func main() {
	base := flag.String("base", "http://127.0.0.1:8080", "server base URL")
	secret := flag.String("secret", "", "upload secret (v1 signatures)")
	n := flag.Int("n", 500, "concurrent uploads")
	size := flag.Int64("size", 1<<20, "bytes per upload")
	rate := flag.Int64("rate", 64<<10, "bytes per second per upload")
	prefix := flag.String("prefix", "slow", "file path prefix under /upload/")
	flag.Parse()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *n}, Timeout: 10 * time.Minute}
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range *n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("%s/%d.bin", *prefix, i)
			url := fmt.Sprintf("%s/upload/%s?v=%s", *base, name, hmacauth.SignV1(*secret, name, *size))
			req, _ := http.NewRequest(http.MethodPut, url, &paced{left: *size, seed: byte(i), rate: *rate, start: time.Now()})
			req.ContentLength = *size
			resp, err := client.Do(req)
			if err != nil {
				failed.Add(1)
				fmt.Fprintln(os.Stderr, name, err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				failed.Add(1)
				fmt.Fprintln(os.Stderr, name, resp.Status, resp.Header.Get("Retry-After"))
				return
			}
			ok.Add(1)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	intact := 0
	for i := range *n {
		name := fmt.Sprintf("%s/%d.bin", *prefix, i)
		resp, err := client.Get(*base + "/upload/" + name)
		if err != nil {
			continue
		}
		got := sha256.New()
		io.Copy(got, resp.Body)
		resp.Body.Close()
		want := sha256.New()
		io.Copy(want, &paced{left: *size, seed: byte(i)})
		if resp.StatusCode == 200 && bytes.Equal(got.Sum(nil), want.Sum(nil)) {
			intact++
		}
	}
	fmt.Printf("uploads=%d ok=%d failed=%d intact=%d seconds=%.1f\n", *n, ok.Load(), failed.Load(), intact, elapsed.Seconds())
	if intact != *n {
		os.Exit(1)
	}
}

// paced yields a deterministic pattern no faster than rate bytes per second (0: at once).
type paced struct {
	left, sent, rate int64
	seed             byte
	start            time.Time
}

func (p *paced) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	n := min(int64(len(b)), p.left, 16<<10)
	if p.rate > 0 {
		due := p.start.Add(time.Duration(float64(p.sent+n) / float64(p.rate) * float64(time.Second)))
		time.Sleep(time.Until(due))
	}
	for i := range n {
		b[i] = byte(p.sent+i) ^ p.seed
	}
	p.sent += n
	p.left -= n
	return int(n), nil
}
