// Package config builds the server configuration from embedded defaults, a TOML file,
// FILESERVER_* environment variables and command-line flags, in that order, and validates it.
// Every problem names the file, key (and line where known) and the reason, so start-up stops
// with a message an operator can act on. It must never log or print a secret.
package config
