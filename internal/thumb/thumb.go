// Package thumb makes JPEG thumbnails of stored images (JPEG, PNG, GIF, WebP), once per file
// and size, kept in a cache directory, so that chat and web clients can show a preview
// without fetching the whole image. Decoding is bounded: an image whose header declares more
// than MaxPixels is refused before a pixel is decoded (a decompression bomb stays a few
// bytes), the decoded pixels' memory is taken from the server's one buffer budget first, a
// few thumbnails are made at once, and a caller waits at most Timeout.
package thumb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // decoders by format
	"image/jpeg"
	_ "image/png"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp"

	"fileserver/internal/adaptivebuf"
	"fileserver/internal/storage"
)

// Errors a thumbnail request may end with.
var (
	ErrSize     = errors.New("thumbnail size not offered")
	ErrNotImage = errors.New("not an image thumbnails are made of (JPEG, PNG, GIF, WebP)")
	ErrTooLarge = errors.New("image too large for a thumbnail")
	ErrDecode   = errors.New("image cannot be decoded")
	ErrBusy     = errors.New("thumbnails are busy; retry later")
)

// Options configure a Maker.
type Options struct {
	// Sizes are the thumbnail sizes offered: the longest side, in pixels.
	Sizes []int
	// MaxPixels refuses images whose header declares more pixels than this.
	MaxPixels int64
	// Timeout bounds a request's wait for its thumbnail.
	Timeout time.Duration
	// Cache is the directory thumbnails are kept in; Dir the path in it ("thumbs").
	Cache *os.Root
	Dir   string
	// Pool is the buffer budget decoded pixels are taken from; nil: none.
	Pool *adaptivebuf.Pool
	// Concurrency is how many thumbnails are made at once (default 2).
	Concurrency int
	// Quality is the JPEG quality (default 80).
	Quality int
	// Keep is how long a thumbnail nobody asks for is kept (see Sweep); 0: until Forget.
	Keep time.Duration
}

// Maker makes and keeps thumbnails.
type Maker struct {
	o   Options
	sem chan struct{}
	// failed remembers the images that cannot be made a thumbnail of (by cache file), so that
	// asking again costs no decode.
	mu     sync.Mutex
	failed map[string]error
	// forgotten is when each cache file was last forgotten (Forget), so that a thumbnail
	// made from a file being removed meanwhile is not kept after it (bounded as failed).
	forgotten map[string]time.Time
}

// maxFailed bounds what failed holds; past it the oldest knowledge is dropped all at once.
const maxFailed = 4096

// New makes a Maker.
func New(o Options) *Maker {
	if o.Concurrency <= 0 {
		o.Concurrency = 2
	}
	if o.Quality <= 0 {
		o.Quality = 80
	}
	if o.Dir == "" {
		o.Dir = "thumbs"
	}
	return &Maker{o: o, sem: make(chan struct{}, o.Concurrency), failed: map[string]error{}, forgotten: map[string]time.Time{}}
}

// Offers tells whether size is one of the sizes offered.
func (m *Maker) Offers(size int) bool { return slices.Contains(m.o.Sizes, size) }

// Sizes are the sizes offered.
func (m *Maker) Sizes() []int { return m.o.Sizes }

// Get returns the JPEG thumbnail of the stored file meta describes at size, from the cache
// or made now from what open reads. The cache is keyed by the file's content (its digest, or
// its size and time), so a file stored twice shares its thumbnails.
func (m *Maker) Get(ctx context.Context, meta storage.Meta, size int, open func() (io.ReadCloser, error)) ([]byte, error) {
	if !m.Offers(size) {
		return nil, ErrSize
	}
	file := m.file(meta, size)
	if data, err := m.cached(file); err == nil {
		return data, nil
	}
	if err := m.failure(file); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, m.o.Timeout)
	defer cancel()
	select {
	case m.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ErrBusy
	}
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		// Ends by itself even when the caller stopped waiting: decoding cannot be
		// interrupted, and it holds its slot and its memory until then.
		defer func() { <-m.sem }()
		data, err := m.makeAndKeep(file, open, size)
		done <- result{data, err}
	}()
	select {
	case r := <-done:
		return r.data, r.err
	case <-ctx.Done():
		return nil, ErrBusy
	}
}

// makeAndKeep makes the thumbnail kept as file, unless a request that held the slot before
// made it meanwhile, and keeps it, or remembers why it cannot be made.
func (m *Maker) makeAndKeep(file string, open func() (io.ReadCloser, error), size int) ([]byte, error) {
	if data, err := m.cached(file); err == nil {
		return data, nil
	}
	began := time.Now()
	data, err := m.make(open, size)
	switch {
	case err == nil && m.o.Cache.MkdirAll(path.Dir(file), 0o750) == nil:
		storage.ReplaceFile(m.o.Cache, m.o.Dir+"/"+storage.RandomID()+".tmp", file, data, false)
		if m.forgottenSince(file, began) {
			// The file was removed while this was made from it: the thumbnail answers this
			// request and is not kept.
			m.o.Cache.Remove(file)
		}
	case errors.Is(err, ErrNotImage) || errors.Is(err, ErrDecode) || errors.Is(err, ErrTooLarge) && !errors.Is(err, adaptivebuf.ErrBudget):
		m.remember(file, err) // what the bytes are will not change
	}
	return data, err
}

// file is where the thumbnail of size of the file meta describes is kept: keyed by the
// file's content (its digest, or its size and time), so a file stored twice shares its
// thumbnails.
func (m *Maker) file(meta storage.Meta, size int) string {
	sum := sha256.Sum256([]byte(meta.ETag()))
	key := hex.EncodeToString(sum[:])
	return m.o.Dir + "/" + key[:2] + "/" + key + "-" + strconv.Itoa(size) + ".jpg"
}

// Forget removes the thumbnails of the file meta describes, at every size offered: called
// when its bytes leave the store (expired, deleted, taken down), so that no picture of a
// removed file outlives it on disk.
func (m *Maker) Forget(meta storage.Meta) {
	for _, size := range m.o.Sizes {
		file := m.file(meta, size)
		m.mu.Lock()
		delete(m.failed, file)
		bounded(&m.forgotten, file, time.Now())
		m.mu.Unlock()
		m.o.Cache.Remove(file)
	}
}

// cached reads a kept thumbnail. With Keep, one asked for is marked as used (its time set
// to now) once a quarter of Keep has passed since it last was, so Sweep spares it; the
// mark costs a syscall only that often.
func (m *Maker) cached(file string) ([]byte, error) {
	f, err := m.o.Cache.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	data := make([]byte, st.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, err
	}
	if now := time.Now(); m.o.Keep > 0 && now.Sub(st.ModTime()) > m.o.Keep/4 {
		m.o.Cache.Chtimes(file, now, now)
	}
	return data, nil
}

// Sweep removes the thumbnails nobody asked for in Keep, and what a thumbnail's write left
// behind as long: what Forget could not take along (a crash between a file's removal and
// its listeners, a removal by another node of shared storage, thumbnails kept before
// removals took theirs along) does not stay for ever. It returns how many files it
// removed; it walks every kept thumbnail, which is why it runs hourly.
func (m *Maker) Sweep(ctx context.Context) (int, error) {
	if m.o.Keep <= 0 {
		return 0, nil
	}
	cut := time.Now().Add(-m.o.Keep)
	removed := 0
	err := fs.WalkDir(m.o.Cache.FS(), m.o.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // no thumbnail made yet, or one removed as the walk came by
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() || !(strings.HasSuffix(p, ".jpg") || strings.HasSuffix(p, ".tmp")) {
			return nil
		}
		if info, err := d.Info(); err == nil && info.ModTime().Before(cut) && m.o.Cache.Remove(p) == nil {
			removed++
		}
		return nil
	})
	return removed, err
}

// forgottenSince tells whether file was forgotten at or after t.
func (m *Maker) forgottenSince(file string, t time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	at, ok := m.forgotten[file]
	return ok && !at.Before(t)
}

// decodeBytes is what decoding takes per pixel: the image, and for a progressive JPEG
// (its header has a SOF2 marker) the coefficients kept for every component until the last
// scan, 4 bytes each.
func decodeBytes(format string, model color.Model, head []byte) int64 {
	n := bytesPerPixel(model)
	if format == "jpeg" && bytes.Contains(head, []byte{0xFF, 0xC2}) {
		comps := int64(3)
		if model == color.CMYKModel {
			comps = 4
		} else if model == color.GrayModel {
			comps = 1
		}
		n += comps * 4
	}
	return n
}

func (m *Maker) failure(file string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.failed[file]
}

func (m *Maker) remember(file string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	bounded(&m.failed, file, err)
}

// bounded sets (*mp)[k] = v, first dropping everything *mp knew once it holds maxFailed
// entries; m.mu is held.
func bounded[V any](mp *map[string]V, k string, v V) {
	if len(*mp) >= maxFailed {
		*mp = map[string]V{}
	}
	(*mp)[k] = v
}

// bytesPerPixel is what a decoded pixel of model takes at most.
func bytesPerPixel(model color.Model) int64 {
	switch model {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.YCbCrModel:
		return 3 // 4:4:4 at most; 4:2:0, the usual, is 1.5
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	}
	if _, ok := model.(color.Palette); ok {
		return 1
	}
	return 4
}

// make decodes the image open reads, bounded, and encodes its thumbnail.
func (m *Maker) make(open func() (io.ReadCloser, error), size int) ([]byte, error) {
	rc, err := open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	// The header first: what it declares decides whether the pixels are decoded at all.
	var head bytes.Buffer
	cfg, format, err := image.DecodeConfig(io.TeeReader(rc, &head))
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return nil, ErrNotImage
		}
		return nil, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	pixels := int64(cfg.Width) * int64(cfg.Height)
	if cfg.Width <= 0 || cfg.Height <= 0 || pixels > m.o.MaxPixels {
		return nil, fmt.Errorf("%w: %dx%d, more than %d pixels", ErrTooLarge, cfg.Width, cfg.Height, m.o.MaxPixels)
	}
	if m.o.Pool != nil {
		// What the decoded pixels take, by the image's color model, and a margin for the
		// thumbnail and the decoder's own state.
		res, err := m.o.Pool.TryReserve(pixels*decodeBytes(format, cfg.ColorModel, head.Bytes()) + 1<<20)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrTooLarge, err)
		}
		if res == nil {
			return nil, ErrBusy
		}
		defer m.o.Pool.Release(res)
	}
	img, _, err := image.Decode(io.MultiReader(&head, rc))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w > size || h > size { // never made larger
		if w >= h {
			w, h = size, max(1, h*size/w)
		} else {
			w, h = max(1, w*size/h), size
		}
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(dst, dst.Bounds(), image.White, image.Point{}, draw.Src) // transparency on white
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, b, draw.Over, nil)
	var out bytes.Buffer
	if err := jpeg.Encode(&out, dst, &jpeg.Options{Quality: m.o.Quality}); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
