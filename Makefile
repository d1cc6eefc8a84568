# fileserver build and test entry points. `make test` is the full suite CI runs.
GO ?= go

.PHONY: build run test test-fast e2e fuzz lint clean

# Static and stamped with the version and revision (see scripts/build.sh).
build:
	./scripts/build.sh bin/fileserver

run:
	$(GO) run ./cmd/fileserver serve

# Everything: lint, unit tests with the race detector, short fuzz runs, and the end-to-end
# suites against real peers (installs them with apt-get when missing).
test:
	./scripts/test.sh

# Unit and handler tests only: no external component needed.
test-fast:
	$(GO) test ./...

e2e:
	./scripts/test.sh e2e

fuzz:
	./scripts/test.sh fuzz

lint:
	./scripts/test.sh lint

clean:
	rm -rf bin
