package storage_test

import (
	"strconv"
	"testing"
	"time"

	"fileserver/internal/storage"
)

// What a commit's charge to its uploader's day costs with n uploaders in the day's book (an
// upload changes the book three times: hold, charge, release).
func BenchmarkChargeWithManyUploaders(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			l, err := storage.OpenLocal(b.TempDir(), storage.LocalOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			now := time.Now()
			names := make([]string, n)
			for i := range names {
				names[i] = "user" + strconv.Itoa(i) + "@example.org"
				l.Charge(names[i], 1000, now)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				l.Charge(names[i%n], 1000, now)
			}
		})
	}
}
