#!/usr/bin/env bash
# The GET half of run.sh, on its own and quicker: 4 KiB GET req/s and random 1 MiB Range GETs
# (wrk) against nginx and fileserver in interleaved rounds (the order rotates every round);
# prints medians and ratios (fileserver / nginx). With FS_BEFORE=/path/to/an/older/binary a
# third server runs that binary on its own data directory in the same rounds, so a change
# can be judged before/after against the same nginx. Usage: bench/get.sh [rounds]
# Env: BENCH_DIR, SIZE_MIB (1024), WRK_SECONDS (5),
# FS_DOWNLOAD (extra [download] TOML lines for fileserver), FS_BEFORE, ONLY (small or range:
# run just that part), FS_AFTER (a binary to run instead of the fresh build), FS_BEFORE_LEVEL
# (the log level of the FS_BEFORE server: the same binary at warn measures what logging
# costs), FS_LOG_LEVEL and NGINX_ACCESS_LOG (see lib.sh; default: as each server ships).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROUNDS=${1:-5}
SIZE_MIB=${SIZE_MIB:-1024}
export RANGE_FILE_BYTES=$((SIZE_MIB << 20)) # for range.lua
WRK_SECONDS=${WRK_SECONDS:-5}
trap cleanup EXIT

prepare_get_bench

np=$(free_port)
start_nginx "$np" "$BENCH_DIR/nginx-root"
declare -A URL FILE
URL[nginx]="http://127.0.0.1:$np/upload"
FILE[nginx]=$BENCH_DIR/nginx-root/upload/get.bin FILE[fileserver]=$BENCH_DIR/fs-data/files/get.bin
FILE[before]=$BENCH_DIR/fs-before-data/files/get.bin
servers="nginx fileserver"
fp=$(free_port)
FS_BIN=${FS_AFTER:-$BENCH_DIR/fileserver} FS_EXTRA_DOWNLOAD=${FS_DOWNLOAD:-} start_fileserver "$fp" "$BENCH_DIR/fs-data"
URL[fileserver]="http://127.0.0.1:$fp/upload"
if [ -n "${FS_BEFORE:-}" ]; then
	bp=$(free_port)
	FS_LOG_LEVEL=${FS_BEFORE_LEVEL:-${FS_LOG_LEVEL:-info}} FS_BIN=$FS_BEFORE start_fileserver "$bp" "$BENCH_DIR/fs-before-data"
	URL[before]="http://127.0.0.1:$bp/upload"
	servers="$servers before"
fi

for s in $servers; do
	for f in get.bin:"$big" small.bin:"$small"; do
		name=${f%%:*} file=${f#*:}
		u="${URL[$s]}/$name"
		[ "$s" != nginx ] && u="$u?v=$(sign_v1 "$name" "$(stat -c %s "$file")")"
		code=$(curl -sS -o /dev/null -w '%{http_code}' -T "$file" "$u")
		[ "$code" = 201 ] || { echo "$s PUT $name: HTTP $code" >&2; exit 1; }
	done
done
sync

wrk_rps() { # url [lua] -> requests/s
	local args=(-t2 -c64 "-d${WRK_SECONDS}s")
	[ -n "${2:-}" ] && args=(-t2 -c16 "-d${WRK_SECONDS}s" -s "$2")
	wrk "${args[@]}" "$1" | awk '/^Requests\/sec/ {print $2}'
}
declare -A R
for s in $servers; do R[small_$s]="" R[range_$s]=""; done
read -ra list <<<"$servers"
n=${#list[@]}
for r in $(seq "$ROUNDS"); do
	for i in $(seq 0 $((n - 1))); do
		s=${list[$(((i + r) % n))]}
		[ "${ONLY:-small}" = small ] && R[small_$s]+="$(wrk_rps "${URL[$s]}/small.bin") "
		if [ "${ONLY:-range}" = range ]; then
			warm "${FILE[$s]}"
			R[range_$s]+="$(wrk_rps "${URL[$s]}/get.bin" "$ROOT/bench/range.lua") "
		fi
	done
	echo "round $r: 4 KiB $(for s in $servers; do printf '%s [%s] ' "$s" "${R[small_$s]}"; done)" >&2
	echo "round $r: range $(for s in $servers; do printf '%s [%s] ' "$s" "${R[range_$s]}"; done)" >&2
done

med() { echo "$1" | tr ' ' '\n' | grep . | median; }
# pr A B -> the median of the per-round ratios B/A: load that drifts between rounds cancels.
pr() { paste <(echo "$1" | tr ' ' '\n' | grep .) <(echo "$2" | tr ' ' '\n' | grep .) | awk '{print $2 / $1}' | median; }
printf '%-24s %12s %12s %7s' metric nginx fileserver ratio
[ -n "${FS_BEFORE:-}" ] && printf ' %12s %7s' before ratio
echo
for m in small range; do
	label="4 KiB GET req/s"
	[ $m = range ] && label="1 MiB Range GET req/s"
	[ -z "${R[${m}_nginx]}" ] && continue
	nv=$(med "${R[${m}_nginx]}") fv=$(med "${R[${m}_fileserver]}")
	awk -v l="$label" -v n="$nv" -v f="$fv" 'BEGIN {printf "%-24s %12.0f %12.0f %6.2fx", l, n, f, f / n}'
	if [ -n "${FS_BEFORE:-}" ]; then
		bv=$(med "${R[${m}_before]}")
		awk -v n="$nv" -v b="$bv" 'BEGIN {printf " %12.0f %6.2fx", b, b / n}'
	fi
	printf '   per-round ratio median: %.2fx' "$(pr "${R[${m}_nginx]}" "${R[${m}_fileserver]}")"
	[ -n "${FS_BEFORE:-}" ] && printf ', before %.2fx' "$(pr "${R[${m}_nginx]}" "${R[${m}_before]}")"
	echo
done
echo "rounds=$ROUNDS wrk=${WRK_SECONDS}s cpus=$(nproc) kernel=$(uname -r) nginx=$(nginx -v 2>&1 | sed 's/.*\///')"
