#!/usr/bin/env bash
# What the number of stored files costs: a data directory with FILES stored 4 KiB files
# (1 % of them past their expiry), written by bench/manyfiles as the server's commits lay
# them out, then for each binary: time from start to ready, the CPU and wall time it spends
# until idle (with one metrics scrape at ready, as Prometheus would make), resident memory,
# 4 KiB GET req/s (wrk -t2 -c64), and `fileserver gc --dry-run` and `fileserver gc` with 1 %
# of the files expired. FS_BEFORE=BINARY (an older build) runs first on the same directory;
# the fresh build then starts twice: the first start after an upgrade (no expiry index yet,
# nothing counted) and a start after a clean stop. Before each pass 1 % expired files are
# added again. Usage: bench/many-files.sh   Env: FILES (1000000), BENCH_DIR, FS_BEFORE,
# REUSE=1 (keep the files a previous run left in BENCH_DIR; only the binaries are rebuilt).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
FILES=${FILES:-1000000}
EXPIRED=$((FILES / 100))
trap cleanup EXIT
"$ROOT/bench/setup.sh"
DATA=$BENCH_DIR/many
[ "${REUSE:-}" = 1 ] && [ -d "$DATA" ] || { rm -rf "$BENCH_DIR" && mkdir -p "$BENCH_DIR"; }
build_fileserver
(cd "$ROOT" && go build -o "$BENCH_DIR/manyfiles" ./bench/manyfiles)
[ "${REUSE:-}" = 1 ] && [ -d "$DATA/files" ] || "$BENCH_DIR/manyfiles" -dir "$DATA" -n $((FILES - EXPIRED)) >&2
head -c 4096 /dev/urandom >"$BENCH_DIR/small.bin"

topup() { "$BENCH_DIR/manyfiles" -dir "$DATA" -n "$EXPIRED" -expired >&2; sync; }

# config PORT -> a config file for the data directory: no TTL (only the expired 1 % is
# due), one reaper pass at start and then none during the measurement.
config() {
	cat >"$BENCH_DIR/many-$1.toml" <<TOML
[server]
listen = "127.0.0.1:$1"
[storage]
path = "$DATA"
fsync = false
[auth]
secret = "$SECRET"
[upload]
reap_interval = "24h"
TOML
	echo "$BENCH_DIR/many-$1.toml"
}

# serve LABEL BINARY -> one line of figures for a start of BINARY on the data directory
serve() {
	local label=$1 bin=$2 port cfg t0 t1 pid last now idle=0 waited=0
	port=$(free_port)
	cfg=$(config "$port")
	t0=$(date +%s.%N)
	"$bin" serve --config "$cfg" 2>>"$BENCH_DIR/fileserver.log" &
	pid=$!
	PIDS+=("$pid")
	until curl -sf -o /dev/null "http://127.0.0.1:$port/readyz"; do sleep 0.01; done
	t1=$(date +%s.%N)
	curl -s -o /dev/null "http://127.0.0.1:$port/metrics"
	# Idle: no CPU tick in three one-second samples in a row.
	last=$(cpu_ticks "$pid")
	while [ $idle -lt 3 ] && [ $waited -lt 900 ]; do
		sleep 1
		waited=$((waited + 1))
		now=$(cpu_ticks "$pid")
		if [ "$now" = "$last" ]; then idle=$((idle + 1)); else idle=0; fi
		last=$now
	done
	local cpu rss hwm files rps
	cpu=$(awk -v t="$last" -v h="$TICKS" 'BEGIN {printf "%.1f", t / h}')
	rss=$(awk '/^VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status")
	hwm=$(awk '/^VmHWM/ {print int($2 / 1024)}' "/proc/$pid/status")
	files=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^fileserver_stored_files / {print $2}')
	local small="bench-${label//[^a-z0-9]/-}-$(date +%s%N)/small.bin"
	curl -sf -o /dev/null -T "$BENCH_DIR/small.bin" "http://127.0.0.1:$port/upload/$small?v=$(sign_v1 "$small" 4096)"
	rps=$(wrk -t2 -c64 -d5s "http://127.0.0.1:$port/upload/$small" | awk '/^Requests\/sec/ {print $2}')
	kill -TERM "$pid"
	wait "$pid" || true
	awk -v l="$label" -v r="$t0" -v d="$t1" -v c="$cpu" -v w="$((waited - 3))" -v s="$rss" -v h="$hwm" -v f="${files:-?}" -v q="$rps" \
		'BEGIN {printf "%-22s ready %6.2f s   busy after start: %6.1f CPU-s, ~%4d s   RSS %4d MiB (peak %4d)   stored_files %s   4 KiB GET %7.0f req/s\n", l, d - r, c, w, s, h, f, q}'
}

# gcpass LABEL BINARY [--dry-run] -> wall, CPU and peak memory of one pass
gcpass() {
	local label=$1 bin=$2 wall user sys kib
	shift 2
	/usr/bin/time -o "$BENCH_DIR/time.out" -f '%e %U %S %M' "$bin" gc --config "$(config 1)" "$@" >"$BENCH_DIR/gc.out"
	read -r wall user sys kib <"$BENCH_DIR/time.out"
	awk -v l="$label" -v a="$*" -v w="$wall" -v u="$user" -v s="$sys" -v k="$kib" -v r="$(tail -1 "$BENCH_DIR/gc.out")" \
		'BEGIN {printf "%-22s gc %-9s wall %6.2f s   CPU %6.2f s   peak RSS %4d MiB   (%s)\n", l, a, w, u + s, k / 1024, r}'
}

echo "$FILES files, $EXPIRED expired before each pass; $(nproc) CPUs, kernel $(uname -r)"
if [ -n "${FS_BEFORE:-}" ]; then
	topup
	rm -rf "$DATA/index" "$DATA/usage.json"
	serve before "$FS_BEFORE"
	topup
	gcpass before "$FS_BEFORE" --dry-run
	gcpass before "$FS_BEFORE"
	serve before-again "$FS_BEFORE"
fi
topup
rm -rf "$DATA/index" "$DATA/usage.json" # an upgrade: nothing indexed, nothing counted
serve "after, 1st start" "$BENCH_DIR/fileserver"
serve "after, next start" "$BENCH_DIR/fileserver"
topup
gcpass after "$BENCH_DIR/fileserver" --dry-run
gcpass after "$BENCH_DIR/fileserver"
