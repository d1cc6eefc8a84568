package adaptivebuf

import (
	"context"
	"testing"
)

// BenchmarkAcquireRelease is the uncontended cost of borrowing a kept buffer.
func BenchmarkAcquireRelease(b *testing.B) {
	for _, size := range []int{16 * KiB, 1 * MiB} {
		b.Run(sizeName(size), func(b *testing.B) {
			p := New(Options{Budget: 64 * MiB})
			ctx := context.Background()
			for b.Loop() {
				buf, _ := p.Acquire(ctx, size)
				p.Release(buf)
			}
		})
	}
}

// BenchmarkContended has every P borrow and return under a budget that holds a quarter of
// them, so most acquires downgrade or queue.
func BenchmarkContended(b *testing.B) {
	for _, pol := range []Policy{Downgrade, Wait} {
		b.Run(pol.String(), func(b *testing.B) {
			p := New(Options{Budget: 2 * MiB, Policy: pol})
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					buf, err := p.Acquire(ctx, 1*MiB)
					if err == nil {
						p.Release(buf)
					}
				}
			})
		})
	}
}

func sizeName(n int) string {
	if n >= MiB {
		return itoa(n/MiB) + "MiB"
	}
	return itoa(n/KiB) + "KiB"
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
