#!/usr/bin/env bash
# A change's effect on the durable PUT: two fileserver binaries side by side (FS_BEFORE, an
# older build; FS_AFTER, default the fresh build), started as start_fileserver does, each with
# its own data directory on the same filesystem; one uncounted warm-up PUT each, then
# interleaved rounds (the order flips every round) of curl -T of the same random file to a
# v1-signed URL, the upload removed between rounds. Prints the per-round seconds, CPU ticks,
# medians, the after/before throughput ratio of the medians and the median of per-round
# ratios. Usage: FS_BEFORE=/path/to/old/fileserver bench/put-ab.sh [rounds]
# Env: BENCH_DIR, SIZE_MIB (1024), FS_AFTER; FS_BEFORE_ARGS and FS_AFTER_ARGS are serve flags
# for one side (the same binary twice, one with "--set storage.checksum=false", measures what
# a setting costs).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROUNDS=${1:-5}
SIZE_MIB=${SIZE_MIB:-1024}
[ -n "${FS_BEFORE:-}" ] || { echo "set FS_BEFORE to the binary to compare with" >&2; exit 2; }
trap cleanup EXIT
rm -rf "$BENCH_DIR" && mkdir -p "$BENCH_DIR"
[ -n "${FS_AFTER:-}" ] || build_fileserver
big=$BENCH_DIR/big.bin
head -c $((SIZE_MIB << 20)) /dev/urandom >"$big"
size=$(stat -c %s "$big")
declare -A URL DATA PID
for s in before after; do
	p=$(free_port)
	bin=$FS_BEFORE
	[ $s = after ] && bin=${FS_AFTER:-$BENCH_DIR/fileserver}
	DATA[$s]=$BENCH_DIR/fs-$s-data
	args=${FS_BEFORE_ARGS:-}
	[ $s = after ] && args=${FS_AFTER_ARGS:-}
	FS_BIN=$bin FS_ARGS=$args start_fileserver "$p" "${DATA[$s]}"
	PID[$s]=$FS_PID URL[$s]="http://127.0.0.1:$p/upload"
	echo "$s: $("$bin" version | head -1)" >&2
done
put() { # server name -> seconds
	local code t
	warm "$big"
	read -r code t < <(curl -sS -o /dev/null -w '%{http_code} %{time_total}\n' -T "$big" \
		"${URL[$1]}/$2?v=$(sign_v1 "$2" "$size")")
	[ "$code" = 201 ] || { echo "$1 PUT $2: HTTP $code" >&2; exit 1; }
	echo "$t"
}
drop() { # server name: the file and its metadata sidecar
	rm -f "${DATA[$1]}/files/$2"
	grep -lrF "\"$2\"" "${DATA[$1]}/meta" 2>/dev/null | xargs -r rm -f
}
for s in before after; do put $s warm.bin >/dev/null && drop $s warm.bin; done
declare -A T C
T[before]="" T[after]="" C[before]="" C[after]=""
for r in $(seq "$ROUNDS"); do
	order="before after"
	[ $((r % 2)) = 0 ] && order="after before"
	for s in $order; do
		sync
		c0=$(cpu_ticks "${PID[$s]}")
		t=$(put $s "r$r.bin")
		T[$s]+="$t " C[$s]+="$(($(cpu_ticks "${PID[$s]}") - c0)) "
		drop $s "r$r.bin"
	done
	echo "round $r ($order): before $(awk '{print $NF}' <<<"${T[before]}") s, after $(awk '{print $NF}' <<<"${T[after]}") s; load $(cut -d' ' -f1 /proc/loadavg)" >&2
done
med() { tr ' ' '\n' <<<"$1" | grep . | median; }
echo "PUT seconds before: ${T[before]}"
echo "PUT seconds after:  ${T[after]}"
echo "CPU ticks before:   ${C[before]}(CLK_TCK $TICKS)"
echo "CPU ticks after:    ${C[after]}"
mb=$(med "${T[before]}") ma=$(med "${T[after]}")
pr=$(paste <(tr ' ' '\n' <<<"${T[before]}" | grep .) <(tr ' ' '\n' <<<"${T[after]}" | grep .) | awk '{print $1 / $2}' | median)
awk -v b="$mb" -v a="$ma" -v s="$size" -v p="$pr" 'BEGIN {
	printf "median s: before %.3f after %.3f | GB/s before %.3f after %.3f | after/before %.3f | median per-round ratio %.3f\n", b, a, s/b/1e9, s/a/1e9, b/a, p }'
echo "peak RSS MiB: before $(($(peak_rss_kib "${PID[before]}") / 1024)) after $(($(peak_rss_kib "${PID[after]}") / 1024))"
