package handlers

import "testing"

// LogBuffer collects a logger's JSON events for tests of the whole router.
type LogBuffer = logBuffer

// Events waits for n events and returns them.
func (b *logBuffer) Events(t *testing.T, n int) []map[string]any { return b.events(t, n) }

// CountsOf and JSONText are counts and jsonNumber, for the external tests.
var (
	CountsOf = counts
	JSONText = jsonNumber
)
