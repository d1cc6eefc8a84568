package config

import "testing"

// Misconfigured buffers, budgets and policies stop start-up with a message naming the key.
func TestValidateStreaming(t *testing.T) {
	checkRefused(t, []validateCase{
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
	})
	checkAccepted(t, []map[string]string{
		{"streaming.adaptive": "false", "streaming.buffer_size": "64KiB"},
		{"streaming.memory_budget": "64MiB", "streaming.on_budget_exhausted": "refuse"},
		{"streaming.min_buffer": "1MiB", "streaming.max_buffer": "1MiB", "streaming.memory_budget": "1MiB"},
	})
}
