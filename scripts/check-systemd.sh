#!/usr/bin/env bash
# Checks deploy/systemd/fileserver.service: systemd-analyze verify must be clean and the
# offline security exposure at most 2.0. The unit's ExecStart points at the freshly built
# binary in a temporary copy, since verify insists that the executable exists.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v systemd-analyze >/dev/null 2>&1; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/fileserver" ./cmd/fileserver
sed "s|/usr/local/bin/fileserver|$tmp/fileserver|" deploy/systemd/fileserver.service > "$tmp/fileserver.service"
out=$(systemd-analyze verify "$tmp/fileserver.service" 2>&1 || true)
# Lines about other units on this machine are not ours.
ours=$(printf '%s\n' "$out" | grep -i 'fileserver' || true)
if [ -n "$ours" ]; then
	echo "systemd-analyze verify:"; echo "$ours"; exit 1
fi
score=$(systemd-analyze security --offline=true "$tmp/fileserver.service" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
echo "systemd exposure: $score"
awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }' || { echo "exposure $score is above 2.0"; exit 1; }
