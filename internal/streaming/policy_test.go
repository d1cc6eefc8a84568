package streaming

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"fileserver/internal/adaptivebuf"
)

const (
	KiB = 1 << 10
	MiB = 1 << 20
)

// fakeClock advances only when told, so rates are exact.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// pacedReader yields chunk bytes per Read and advances the clock by step each time: a
// client sending at chunk/step bytes per second.
type pacedReader struct {
	left  int
	chunk int
	step  time.Duration
	clock *fakeClock
}

func (r *pacedReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.chunk, r.left)
	r.left -= n
	r.clock.advance(r.step)
	return n, nil
}

func adaptiveEngine(o Options) (*Engine, *fakeClock) {
	o.Adaptive = true
	e := New(o)
	c := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	e.now, e.profiles.now = c.now, c.now
	e.resizeEvery = time.Millisecond
	return e, c
}

func TestBufferFollowsRate(t *testing.T) {
	for _, tc := range []struct {
		name       string
		start      int
		chunk      int
		step       time.Duration
		wantBuffer int
	}{
		// A fast sender that always fills the buffer: it grows to max_buffer.
		{"fast", 16 * KiB, 1 << 30, 100 * time.Microsecond, 1 * MiB},
		// 64 KiB per 10 ms = 6.5 MB/s: 6.5 kB per quantum, so the 1 MiB start shrinks.
		{"slow", 1 * MiB, 64 * KiB, 10 * time.Millisecond, 32 * KiB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, clock := adaptiveEngine(Options{BufferSize: tc.start, MaxBuffer: 1 * MiB})
			src := &pacedReader{left: 64 * MiB, chunk: tc.chunk, step: tc.step, clock: clock}
			res, err := e.Copy(context.Background(), io.Discard, src, Transfer{Direction: Upload, Client: "c"})
			if err != nil || res.Bytes != 64*MiB {
				t.Fatalf("%v, %d bytes", err, res.Bytes)
			}
			if res.BufferSize != tc.wantBuffer || res.Resizes == 0 {
				t.Fatalf("ended with %d after %d resizes, want %d", res.BufferSize, res.Resizes, tc.wantBuffer)
			}
			// The next transfer of this client starts from its profile.
			p, ok := e.Profile("c")
			if !ok || p.Throughput <= 0 || p.Reliability != 1 || p.Transfers != 1 {
				t.Fatalf("profile %+v %v", p, ok)
			}
			if got := e.pool.RoundSize(e.initialSize(Transfer{Client: "c"}, 0)); got != tc.wantBuffer && tc.name == "fast" {
				t.Fatalf("next transfer starts at %d", got)
			}
			if e.Pool().InUse() != 0 {
				t.Fatal("buffer leaked")
			}
		})
	}
}

func TestInitialSize(t *testing.T) {
	e, _ := adaptiveEngine(Options{BufferSize: 256 * KiB})
	e.profiles.update("phone", sample{throughput: 100e3, rtt: 200 * time.Millisecond, countsForReliability: true, completed: true})
	e.profiles.update("lan", sample{throughput: 1e9, rtt: 100 * time.Microsecond, countsForReliability: true, completed: true})
	fixed := New(Options{BufferSize: 256 * KiB})
	fixed.profiles.update("lan", sample{throughput: 1e9})
	for _, tc := range []struct {
		e      *Engine
		client string
		limit  int64
		rtt    time.Duration
		want   int // after rounding to a class
	}{
		{e, "", 0, 0, 256 * KiB},                // unknown: buffer_size
		{e, "phone", 0, 0, 32 * KiB},            // 100 kB/s x 200 ms = 20 kB
		{e, "phone", 0, time.Second, 128 * KiB}, // the connection's RTT wins over the profile's
		{e, "lan", 0, 0, 1 * MiB},               // 1 GB/s x 1 ms, clamped to max_buffer
		{e, "lan", 10 * KiB, 0, 16 * KiB},       // a small body needs no big buffer
		{fixed, "lan", 0, 0, 256 * KiB},         // adaptive off
	} {
		got := tc.e.pool.RoundSize(tc.e.initialSize(Transfer{Client: tc.client, Limit: tc.limit}, tc.rtt))
		if got != tc.want {
			t.Errorf("%s limit %d rtt %v: %d, want %d", tc.client, tc.limit, tc.rtt, got, tc.want)
		}
	}
}

func TestChunkSize(t *testing.T) {
	e, _ := adaptiveEngine(Options{MinChunk: 1 * MiB, MaxChunk: 64 * MiB, ChunkTarget: 10 * time.Second})
	ok := func(tput float64) sample {
		return sample{throughput: tput, countsForReliability: true, completed: true}
	}
	e.profiles.update("3g", ok(200e3))
	e.profiles.update("fiber", ok(100e6))
	e.profiles.update("trickle", ok(10e3))
	e.profiles.update("flaky", ok(1e6))
	for range 3 {
		e.profiles.update("flaky", sample{countsForReliability: true}) // broke off
	}
	e.profiles.update("oversized", sample{throughput: 1e6, countsForReliability: false})
	fixed := New(Options{ChunkPolicy: ChunkFixed, MaxChunk: 32 * MiB})
	for _, tc := range []struct {
		e      *Engine
		client string
		want   int64
	}{
		{e, "unknown", 8 * MiB},
		{e, "3g", 2_000_000 &^ (64*KiB - 1)},
		{e, "fiber", 64 * MiB},
		{e, "trickle", 1 * MiB},
		{e, "flaky", int64(10e6*0.343*0.343) &^ (64*KiB - 1)}, // reliability 0.7^3
		{e, "oversized", 10_000_000 &^ (64*KiB - 1)},          // a refused body says nothing of the link
		{fixed, "anyone", 32 * MiB},
	} {
		if got := tc.e.ChunkSize(tc.client); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.client, got, tc.want)
		}
	}
	if len(e.Stats().ChunkSizes()) == 0 {
		t.Error("recommendations not counted")
	}
}

func TestProfilesExpireAndStayBounded(t *testing.T) {
	e, clock := adaptiveEngine(Options{ProfileTTL: time.Minute, MaxProfiles: 64})
	e.profiles.update("old", sample{throughput: 1e6})
	clock.advance(2 * time.Minute)
	if _, ok := e.Profile("old"); ok {
		t.Fatal("expired profile still served")
	}
	for i := range 1000 {
		clock.advance(time.Millisecond)
		e.profiles.update(fmt.Sprint("c", i), sample{throughput: 1e6})
		if n := e.Profiles(); n > 64 {
			t.Fatalf("%d profiles, cap 64", n)
		}
	}
	if _, ok := e.Profile("c999"); !ok {
		t.Fatal("the newest profile was evicted")
	}
	if _, ok := e.Profile("c0"); ok {
		t.Fatal("the oldest profile survived")
	}
}

// Interrupted transfers lower the client's reliability; too-large ones do not.
func TestReliabilityFromOutcomes(t *testing.T) {
	e := New(Options{Adaptive: true})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e.Copy(ctx, io.Discard, bytes.NewReader(make([]byte, 100)), Transfer{Client: "a"})
	p, _ := e.Profile("a")
	if p.Reliability >= 1 {
		t.Fatalf("cancelled transfer left reliability %v", p.Reliability)
	}
	e.Copy(context.Background(), io.Discard, bytes.NewReader(make([]byte, 100)), Transfer{Client: "b", Limit: 10})
	if p, _ := e.Profile("b"); p.Reliability != 1 {
		t.Fatalf("too-large transfer counted against reliability: %v", p.Reliability)
	}
}

func TestBusyWhenBudgetSpent(t *testing.T) {
	for _, tc := range []struct {
		policy adaptivebuf.Policy
		wait   time.Duration
	}{{adaptivebuf.Refuse, 0}, {adaptivebuf.Wait, time.Millisecond}, {adaptivebuf.Downgrade, time.Millisecond}} {
		e := New(Options{BufferSize: 1 * MiB, MinBuffer: 1 * MiB, MemoryBudget: 1 * MiB, OnBudgetExhausted: tc.policy, BudgetWait: tc.wait})
		held, _ := e.Pool().Acquire(context.Background(), 1*MiB)
		read := false
		src := readerFunc(func(p []byte) (int, error) { read = true; return 0, io.EOF })
		res, err := e.Copy(context.Background(), io.Discard, src, Transfer{Protocol: "v1", Direction: Upload})
		if !errors.Is(err, ErrBusy) || read || res.Bytes != 0 {
			t.Fatalf("%v: err %v, read %v", tc.policy, err, read)
		}
		if ResultLabel(err) != "busy" || e.Stats().Transfers()[TransferKey{"v1", Upload, "busy"}].Count != 1 {
			t.Fatalf("%v: busy not counted", tc.policy)
		}
		e.Pool().Release(held)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// On Linux the RTT comes from the kernel through the connection stashed by ConnContext;
// elsewhere, and without a connection, there is none and nothing fails.
func TestRTTFromConnection(t *testing.T) {
	if _, ok := rttOf(context.Background()); ok {
		t.Fatal("RTT without a connection")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skip(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hello"))
	rtt, ok := rttOf(ConnContext(context.Background(), c))
	if ok != rttSupported || (ok && (rtt <= 0 || rtt > time.Second)) {
		t.Fatalf("rtt %v ok %v on a loopback connection", rtt, ok)
	}
	if _, ok := rttOf(ConnContext(context.Background(), pipeConn{})); ok {
		t.Fatal("RTT from a connection without a socket")
	}
}

type pipeConn struct{ net.Conn }
