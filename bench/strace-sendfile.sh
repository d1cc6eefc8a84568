#!/usr/bin/env bash
# Proves with strace on the real binary that a download of a local file leaves by sendfile:
# uploads a 64 MiB file, traces the server's syscalls during a plain GET and a Range GET,
# and fails unless sendfile carried at least 99 % of the bytes sent. 127.0.0.1 only.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
trap cleanup EXIT
command -v strace >/dev/null || "$ROOT/bench/setup.sh"
mkdir -p "$BENCH_DIR"
build_fileserver
data=$BENCH_DIR/strace-data
rm -rf "$data"
port=$(free_port)
start_fileserver "$port" "$data"
f=$BENCH_DIR/strace.bin
head -c $((64 << 20)) /dev/urandom >"$f"
code=$(curl -sS -o /dev/null -w '%{http_code}' -T "$f" "http://127.0.0.1:$port/upload/s.bin?v=$(sign_v1 s.bin $((64 << 20)))")
[ "$code" = 201 ] || { echo "upload: HTTP $code" >&2; exit 1; }

status=0
for range in "" "bytes=1000-50000999"; do
	log=$BENCH_DIR/strace.log
	strace -f -qq -e trace=sendfile,write,writev,sendmsg,sendto -o "$log" -p "$FS_PID" &
	spid=$!
	sleep 1 # strace attaches to every thread
	hdr=()
	[ -n "$range" ] && hdr=(-H "Range: $range")
	got=$(curl -sS -o /dev/null -w '%{size_download}' "${hdr[@]}" "http://127.0.0.1:$port/upload/s.bin")
	sleep 0.5
	kill "$spid"
	wait "$spid" 2>/dev/null || true
	# Each line ends "= N" with the bytes the call moved.
	sf=$(awk '/sendfile\(/ && /= [0-9]+$/ {s += $NF} END {print s + 0}' "$log")
	other=$(awk '!/sendfile\(/ && /= [0-9]+$/ {s += $NF} END {print s + 0}' "$log")
	calls=$(grep -c 'sendfile(' "$log" || true)
	echo "GET ${range:-whole}: $got bytes received; sendfile carried $sf bytes in $calls calls; other writes $other bytes"
	if [ "$((sf * 100))" -lt "$((got * 99))" ]; then
		echo "FAIL: the download did not leave by sendfile" >&2
		status=1
	fi
done
exit $status
