package config

import (
	"errors"
	"strings"
	"testing"
)

// Misconfigured buffers, budgets and policies stop start-up with a message naming the key.
func TestValidateStreaming(t *testing.T) {
	cases := []struct {
		set    map[string]string
		key    string
		reason string
	}{
		{map[string]string{"streaming.min_buffer": "2MiB"}, "streaming.min_buffer", "max_buffer"},
		{map[string]string{"streaming.min_buffer": "4KiB"}, "streaming.min_buffer", "16KiB"},
		{map[string]string{"streaming.max_buffer": "8MiB"}, "streaming.max_buffer", "4MiB"},
		{map[string]string{"streaming.buffer_size": "2MiB"}, "streaming.buffer_size", "between min_buffer and max_buffer"},
		{map[string]string{"streaming.memory_budget": "8KiB"}, "streaming.memory_budget", "max_buffer"},
		{map[string]string{"streaming.memory_budget": "512KiB"}, "streaming.memory_budget", "max_buffer"},
		{map[string]string{"streaming.on_budget_exhausted": "panic"}, "streaming.on_budget_exhausted", "wait, downgrade or refuse"},
		{map[string]string{"streaming.chunk_policy": "random"}, "streaming.chunk_policy", "fixed or adaptive"},
		{map[string]string{"streaming.chunk_target": "0s"}, "streaming.chunk_target", "positive"},
		{map[string]string{"streaming.min_chunk": "128MiB"}, "streaming.min_chunk", "max_chunk"},
		{map[string]string{"streaming.min_chunk": "1KiB"}, "streaming.min_chunk", "64KiB"},
		{map[string]string{"streaming.profile_ttl": "0s"}, "streaming.profile_ttl", "positive"},
	}
	for _, tc := range cases {
		c := Default()
		for k, v := range tc.set {
			if err := c.Set(k, v); err != nil {
				t.Fatalf("Set(%s=%s): %v", k, v, err)
			}
		}
		err := c.Validate()
		var ce *Error
		if !errors.As(err, &ce) || ce.Key != tc.key || !strings.Contains(ce.Reason, tc.reason) {
			t.Errorf("%v: err %v, want %s: ...%s...", tc.set, err, tc.key, tc.reason)
		}
	}
	for _, ok := range []map[string]string{
		{"streaming.adaptive": "false", "streaming.buffer_size": "64KiB"},
		{"streaming.memory_budget": "64MiB", "streaming.on_budget_exhausted": "refuse"},
		{"streaming.min_buffer": "1MiB", "streaming.max_buffer": "1MiB", "streaming.memory_budget": "1MiB"},
	} {
		c := Default()
		for k, v := range ok {
			c.Set(k, v)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%v refused: %v", ok, err)
		}
	}
}
