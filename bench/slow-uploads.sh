#!/usr/bin/env bash
# 500 concurrent rate-limited uploads against fileserver with memory_budget = 64MiB: all must
# succeed intact, and the server's peak RSS must stay at or under 128 MiB. 127.0.0.1 only.
# Env: N (500), SIZE (1048576 bytes each), RATE (65536 bytes/s each), BUDGET (64MiB),
# POLICY (downgrade).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
trap cleanup EXIT
N=${N:-500} SIZE=${SIZE:-1048576} RATE=${RATE:-65536} BUDGET=${BUDGET:-64MiB} POLICY=${POLICY:-downgrade}
mkdir -p "$BENCH_DIR"
build_fileserver
(cd "$ROOT" && go build -o "$BENCH_DIR/slowput" ./bench/slowput)
data=$BENCH_DIR/slow-data
rm -rf "$data"
port=$(free_port)
start_fileserver "$port" "$data" "memory_budget = \"$BUDGET\"
on_budget_exhausted = \"$POLICY\""
c0=$(cpu_ticks "$FS_PID")
timeout 600 "$BENCH_DIR/slowput" -base "http://127.0.0.1:$port" -secret "$SECRET" -n "$N" -size "$SIZE" -rate "$RATE"
rss=$(($(peak_rss_kib "$FS_PID") / 1024))
pool=$(curl -s "http://127.0.0.1:$port/metrics" | grep -E '^fileserver_(buffer_pool_(waits|downgrades|refusals)_total|buffer_size_chosen_total)' | tr '\n' ' ')
echo "peak RSS ${rss} MiB (limit 128), CPU $(( ($(cpu_ticks "$FS_PID") - c0) / TICKS )) s; $pool"
[ "$rss" -le 128 ]
