package hmacauth

import (
	"errors"
	"testing"
	"time"
)

// A resumable upload's creation carries a token but no slot in its path: AnySlot verifies the
// token without the path check and reports the slot it names.
func TestAnySlotReportsTheTokensSlot(t *testing.T) {
	const secret = "any-slot-secret-0123456789-0123456789-ab"
	now := time.Unix(1_800_000_000, 0)
	v := NewVerifier(Options{Secret: secret, Now: func() time.Time { return now }})
	tok := SignToken(secret, Claims{Sub: "a@example.org", Iat: now.Unix(), Exp: now.Unix() + 300,
		Slot: "s1", Filename: "f.bin", Filesize: 42, Filetype: "image/png"})
	req := Request{Method: "POST", URLPath: "/files/", Authorization: "Bearer " + tok, ContentLength: -1}
	if _, err := v.Verify(req); !errors.Is(err, ErrSlotMismatch) {
		t.Fatalf("without AnySlot: %v, want ErrSlotMismatch", err)
	}
	req.AnySlot = true
	g, err := v.Verify(req)
	if err != nil || g.Slot != "s1" || g.Filename != "f.bin" || g.Size != 42 || g.Subject != "a@example.org" {
		t.Fatalf("AnySlot grant %+v, %v", g, err)
	}
	bad := SignToken("another-secret-0123456789-0123456789-abc", Claims{Slot: "s1", Exp: now.Unix() + 300})
	req.Authorization = "Bearer " + bad
	if _, err := v.Verify(req); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("AnySlot with a forged token: %v", err)
	}
}
