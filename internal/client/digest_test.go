package client

import (
	"errors"
	"testing"
)

func TestCheckDigest(t *testing.T) {
	// sha256("abc")
	const hexSum = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	const good = "sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:"
	cases := []struct {
		header string
		want   error
	}{
		{good, nil},
		{"sha-512=:AAAA:, " + good, nil},
		{"", nil}, // no digest: nothing to check
		{"sha-256=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:", ErrDigestMismatch},
		{"sha-256=:not base64:", ErrDigestMismatch},
	}
	for _, c := range cases {
		if err := checkDigest(c.header, hexSum); !errors.Is(err, c.want) {
			t.Errorf("checkDigest(%q) = %v, want %v", c.header, err, c.want)
		}
	}
}

func TestMaxAppendSize(t *testing.T) {
	if n := maxAppendSize("max-size=100, max-append-size=8388608, max-age=3600"); n != 8388608 {
		t.Fatalf("max-append-size %d", n)
	}
	if n := maxAppendSize("min-size=0"); n != 0 {
		t.Fatalf("absent max-append-size gave %d", n)
	}
}
