#!/usr/bin/env bash
# What checkpoints cost: a SIZE_MIB file sent to fileserver's tus endpoint in one PATCH (what
# tus-js-client and Uppy send by default), by fileserver instances that differ only in
# resumable.checkpoint_bytes / checkpoint_interval, same machine, same run, interleaved
# rounds (the order rotates every round). Durable storage (the default storage.fsync) on
# every one; "off" records the offset only when the PATCH ends. Prints the median time, MB/s
# and the ratio to "off" of each, and the server CPU seconds per GB.
# Usage: bench/checkpoint.sh [rounds]
# Env: BENCH_DIR (default /var/tmp/checkpoint-bench, deleted at exit), SIZE_MIB (1024),
# SETTINGS (space-separated NAME=BYTES/INTERVAL; default: off=0/0 16MiB=16MiB/2s
# 64MiB=64MiB/2s 256MiB=256MiB/2s).
set -euo pipefail
BENCH_DIR=${BENCH_DIR:-/var/tmp/checkpoint-bench}
source "$(dirname "$0")/lib.sh"
ROUNDS=${1:-5}
SIZE_MIB=${SIZE_MIB:-1024}
SETTINGS=${SETTINGS:-off=0/0 16MiB=16MiB/2s 64MiB=64MiB/2s 256MiB=256MiB/2s}
read -r -a SETTINGS <<<"$SETTINGS"
trap 'cleanup; rm -rf "$BENCH_DIR"' EXIT

rm -rf "$BENCH_DIR" && mkdir -p "$BENCH_DIR"
build_fileserver
(cd "$ROOT" && go build -o "$BENCH_DIR/tusclient" ./bench/tusclient)
big=$BENCH_DIR/big.bin
head -c $((SIZE_MIB << 20)) /dev/urandom >"$big"
size=$(stat -c %s "$big")

declare -A PORT PID DATA
NAMES=()
for s in "${SETTINGS[@]}"; do
	name=${s%%=*} spec=${s#*=}
	NAMES+=("$name")
	PORT[$name]=$(free_port)
	DATA[$name]=$BENCH_DIR/data-$name
	FS_ARGS="--set resumable.checkpoint_bytes=${spec%/*} --set resumable.checkpoint_interval=${spec#*/}" \
		start_fileserver "${PORT[$name]}" "${DATA[$name]}"
	PID[$name]=$FS_PID
done

ingest() { # name -> "seconds id"
	timeout 300 "$BENCH_DIR/tusclient" ingest -endpoint "http://127.0.0.1:${PORT[$1]}/files/" \
		-secret "$SECRET" -file "$big" -chunk 0
}
drop() { rm -rf "${DATA[$1]}/files/$2" "${DATA[$1]}/partial/$2"; sync; }

cat "$big" >/dev/null
for s in "${NAMES[@]}"; do read -r _ id < <(ingest "$s") && drop "$s" "$id"; done

declare -A T CPU
for s in "${NAMES[@]}"; do T[$s]="" CPU[$s]=0; done
n=${#NAMES[@]}
for r in $(seq "$ROUNDS"); do
	line="round $r:"
	for i in $(seq 0 $((n - 1))); do
		s=${NAMES[$(((i + r) % n))]}
		c0=$(cpu_ticks "${PID[$s]}")
		read -r t id < <(ingest "$s")
		c1=$(cpu_ticks "${PID[$s]}")
		[ -n "${id:-}" ] || { echo "$s: upload failed" >&2 && exit 1; }
		T[$s]+="$t " CPU[$s]=$((CPU[$s] + c1 - c0))
		drop "$s" "$id"
		line+=" $s $t"
	done
	echo "$line" >&2
done

med() { echo "$1" | tr ' ' '\n' | grep . | median; }
base=$(med "${T[${NAMES[0]}]}")
printf '%-10s %10s %10s %10s %12s\n' setting "median s" "MB/s" "ratio" "CPU-s/GB"
for s in "${NAMES[@]}"; do
	m=$(med "${T[$s]}")
	awk -v m="$m" -v b="$base" -v sz="$size" -v c="${CPU[$s]}" -v tk="$TICKS" -v r="$ROUNDS" -v s="$s" \
		'BEGIN {printf "%-10s %10.3f %10.0f %9.3fx %12.3f\n", s, m, sz / m / 1e6, b / m, c / tk / (sz * r / 1e9)}'
done
