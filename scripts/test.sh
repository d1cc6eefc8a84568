#!/usr/bin/env bash
# The full test suite: lint (gofmt, vet, staticcheck), unit tests under the race detector,
# bounded fuzz runs of every parser of untrusted input, and the end-to-end suites that start
# the real binary next to real peers (Prosody, an XMPP client, an S3 server, Redis, an
# attacker). Missing peers are installed first
# (e2e/install-deps.sh); a peer that cannot be installed or started fails the run, it is
# never skipped: FILESERVER_TEST_PEERS=require turns the unit tests' skip for a missing
# Redis or S3 server (internal/testpeers) into a failure.
#
#   scripts/test.sh            everything
#   scripts/test.sh deps|lint|unit|fuzz|deploy|e2e   one stage
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:-} -count=1"
# An execution count, not a duration: Go 1.26's fuzz coordinator can report a spurious
# "context deadline exceeded" when a duration runs out while a worker is busy (fixed in 1.27).
FUZZTIME="${FUZZTIME:-100000x}"

deps() {
	echo "== deps"
	./e2e/install-deps.sh
}

lint() {
	echo "== lint"
	local unformatted
	unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
	if [ -n "$unformatted" ]; then
		echo "gofmt would change:"; echo "$unformatted"; return 1
	fi
	go vet ./...
	go vet -tags e2e ./e2e/...
	# staticcheck at a pinned version, from the module proxy (built once, then cached).
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 -tags e2e ./e2e/...
}

unit() {
	echo "== unit (race)"
	go test -race ./...
}

# Every Fuzz target in the module, each for FUZZTIME, one package at a time.
fuzz() {
	echo "== fuzz ($FUZZTIME each)"
	local pkg target
	for pkg in $(go list ./...); do
		for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
			echo "-- $pkg $target"
			go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 5s "$pkg"
		done
	done
}

deploy() {
	echo "== deploy (systemd unit, container image, scale-out balancer)"
	./scripts/check-systemd.sh
	./scripts/check-image.sh
	./scripts/check-haproxy.sh
}

e2e() {
	echo "== e2e (real Prosody and XMPP client)"
	./e2e/install-deps.sh
	go test -tags e2e -v -timeout 15m ./e2e/...
}

if [ $# -eq 0 ]; then
	export FILESERVER_TEST_PEERS=require
	deps
	lint
	unit
	fuzz
	deploy
	e2e
else
	for stage in "$@"; do "$stage"; done
fi
