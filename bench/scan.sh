#!/usr/bin/env bash
# What malware scanning costs an upload: three fileserver instances beside each other, each
# with its own data directory on one filesystem, taking the same SIZE_MIB file by curl -T to
# a v1-signed URL in interleaved rounds (the order rotates), the upload removed between rounds:
#   off       no scanning
#   stream    [scan] on, resumable uploads off: the PUT's bytes go to clamd as they are written
#   readback  [scan] on, resumable uploads on (the default): the PUT is a resumable upload,
#             read back once from its partial data and sent to clamd before the commit
# clamd is Debian's, started by the script with a one-signature database of its own (the real
# signature databases cannot be downloaded here: with them clamd itself takes longer per byte;
# this measures what fileserver adds around it) and StreamMaxLength above the file's size.
# Prints the median seconds per upload, MB/s, the ratio to "off", and CPU-s per GB of
# fileserver and of clamd. Usage: bench/scan.sh [rounds]   Env: SIZE_MIB (512), BENCH_DIR.
set -euo pipefail
BENCH_DIR=${BENCH_DIR:-/var/tmp/scan-bench}
source "$(dirname "$0")/lib.sh"
ROUNDS=${1:-5}
SIZE_MIB=${SIZE_MIB:-512}
CLAMD=${CLAMD:-$(command -v clamd || echo /usr/sbin/clamd)}
[ -x "$CLAMD" ] || { echo "no clamd: apt-get install clamav-daemon" >&2 && exit 1; }
finish() {
	cleanup
	rm -rf "$BENCH_DIR"
}
trap finish EXIT
rm -rf "$BENCH_DIR" && mkdir -p "$BENCH_DIR/clamd/db"
build_fileserver
big=$BENCH_DIR/big.bin
head -c $((SIZE_MIB << 20)) /dev/urandom >"$big"
size=$(stat -c %s "$big")
# One signature that matches nothing sent here (clamd will not start without a database).
echo "00000000000000000000000000000000:1:Bench.Nothing" >"$BENCH_DIR/clamd/db/bench.hdb"
sock=$BENCH_DIR/clamd/clamd.sock
cat >"$BENCH_DIR/clamd/clamd.conf" <<CONF
LocalSocket $sock
DatabaseDirectory $BENCH_DIR/clamd/db
Foreground yes
TemporaryDirectory $BENCH_DIR/clamd
StreamMaxLength $((SIZE_MIB * 2))M
MaxFileSize $((SIZE_MIB * 2))M
MaxScanSize $((SIZE_MIB * 2))M
User root
LogFile $BENCH_DIR/clamd/clamd.log
CONF
"$CLAMD" -c "$BENCH_DIR/clamd/clamd.conf" >>"$BENCH_DIR/clamd/out.log" 2>&1 &
CLAMD_PID=$!
PIDS+=("$CLAMD_PID")
for _ in $(seq 300); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { echo "clamd did not start" >&2 && cat "$BENCH_DIR/clamd/out.log" >&2 && exit 1; }

CONTENDERS=(off stream readback)
declare -A URL DATA PID
for c in "${CONTENDERS[@]}"; do
	p=$(free_port)
	DATA[$c]=$BENCH_DIR/fs-$c
	args="--set storage.dedup=false --set scan.max_size=$((SIZE_MIB * 2))MiB"
	case $c in
	stream) args="$args --set scan.clamd=unix:$sock --set resumable.enabled=false" ;;
	readback) args="$args --set scan.clamd=unix:$sock" ;;
	esac
	FS_ARGS=$args start_fileserver "$p" "${DATA[$c]}"
	PID[$c]=$FS_PID URL[$c]="http://127.0.0.1:$p/upload"
done
put() { # contender name -> seconds
	local code t
	read -r code t < <(curl -sS -o /dev/null -w '%{http_code} %{time_total}\n' -T "$big" \
		"${URL[$1]}/$2?v=$(sign_v1 "$2" "$size")")
	[ "$code" = 201 ] || { echo "$1 PUT $2: HTTP $code" >&2 && exit 1; }
	echo "$t"
}
drop() { # contender name
	rm -f "${DATA[$1]}/files/$2"
	grep -lrF "\"$2\"" "${DATA[$1]}/meta" 2>/dev/null | xargs -r rm -f
	sync
}
declare -A SECS FSCPU CLCPU
cat "$big" >/dev/null
for c in "${CONTENDERS[@]}"; do put "$c" warm.bin >/dev/null && drop "$c" warm.bin; done
for r in $(seq "$ROUNDS"); do
	order=("${CONTENDERS[@]:$((r % 3))}" "${CONTENDERS[@]:0:$((r % 3))}")
	for c in "${order[@]}"; do
		f0=$(cpu_ticks "${PID[$c]}") c0=$(cpu_ticks "$CLAMD_PID")
		s=$(put "$c" "r$r.bin")
		f1=$(cpu_ticks "${PID[$c]}") c1=$(cpu_ticks "$CLAMD_PID")
		SECS[$c]+="$s " FSCPU[$c]+="$((f1 - f0)) " CLCPU[$c]+="$((c1 - c0)) "
		drop "$c" "r$r.bin"
	done
	echo "round $r: $(for c in "${CONTENDERS[@]}"; do printf '%s %ss  ' "$c" "$(echo "${SECS[$c]}" | awk '{print $NF}')"; done)" >&2
done
base=$(echo "${SECS[off]}" | tr ' ' '\n' | grep . | median)
printf '%-9s %9s %9s %8s %16s %12s\n' contender "median s" "MB/s" "vs off" "fileserver CPU-s/GB" "clamd CPU-s/GB"
for c in "${CONTENDERS[@]}"; do
	m=$(echo "${SECS[$c]}" | tr ' ' '\n' | grep . | median)
	fc=$(echo "${FSCPU[$c]}" | tr ' ' '\n' | grep . | awk '{s+=$1} END {print s}')
	cc=$(echo "${CLCPU[$c]}" | tr ' ' '\n' | grep . | awk '{s+=$1} END {print s}')
	awk -v c="$c" -v m="$m" -v b="$base" -v n="$size" -v fc="$fc" -v cc="$cc" -v r="$ROUNDS" -v h="$TICKS" \
		'BEGIN {gb = n * r / 1e9; printf "%-9s %9.3f %9.0f %7.2fx %16.2f %12.2f\n", c, m, n / m / 1e6, b / m, fc / h / gb, cc / h / gb}'
done
echo "rounds=$ROUNDS size=${SIZE_MIB}MiB cpus=$(nproc) clamd=$("$CLAMD" --version 2>/dev/null | head -1)"
