package config

import (
	"errors"
	"strings"
	"testing"
)

// validateCase is a set of keys that Validate must refuse, naming key with reason in its
// message.
type validateCase struct {
	set    map[string]string
	key    string
	reason string
}

func withSettings(t *testing.T, set map[string]string) Config {
	t.Helper()
	c := Default()
	for k, v := range set {
		if err := c.Set(k, v); err != nil {
			t.Fatalf("Set(%s=%s): %v", k, v, err)
		}
	}
	return c
}

// checkRefused runs Validate on each case and checks the error names the key and reason.
func checkRefused(t *testing.T, cases []validateCase) {
	t.Helper()
	for _, tc := range cases {
		c := withSettings(t, tc.set)
		err := c.Validate()
		var ce *Error
		if !errors.As(err, &ce) || ce.Key != tc.key || !strings.Contains(ce.Reason, tc.reason) {
			t.Errorf("%v: err %v, want %s: ...%s...", tc.set, err, tc.key, tc.reason)
		}
	}
}

// checkAccepted runs Validate on each set of keys and expects no error.
func checkAccepted(t *testing.T, sets []map[string]string) {
	t.Helper()
	for _, set := range sets {
		c := withSettings(t, set)
		if err := c.Validate(); err != nil {
			t.Errorf("%v refused: %v", set, err)
		}
	}
}
