#!/usr/bin/env bash
# Resumable ingest: fileserver's tus endpoint beside tusd v2.9.1 (default filestore), same
# machine, same run, same filesystem, in interleaved rounds (the order rotates every round).
# 1. tus PATCH ingest of a SIZE_MIB file in CHUNK_MIB PATCHes and in one PATCH: throughput,
#    server CPU seconds per GB (user+sys of the server process from /proc/PID/stat), peak RSS.
#    fileserver syncs each PATCH's data before acknowledging its offset; tusd never fsyncs.
#    "fileserver-nosync" is fileserver with storage.fsync = false, the like-for-like row.
# 2. Hand-off: how long a HEAD takes while a stale PATCH (raw TCP, part of its body sent,
#    then silent) holds the upload.
# The client (bench/tusclient) is the same for every server and sends bodies by sendfile.
# Everything listens on 127.0.0.1 only; every client run is bounded by `timeout`.
# Usage: bench/tusd.sh [rounds]
# Env: BENCH_DIR (default /var/tmp/tusd-bench; the 1 GiB file and data dirs live there and
# are deleted at exit), SIZE_MIB (1024), CHUNK_MIB (64), HANDOFF_ROUNDS (10),
# TUSD (a tusd binary; default: built once into /tmp/tusd-v2.9.1), SERVERS (which to run).
set -euo pipefail
BENCH_DIR=${BENCH_DIR:-/var/tmp/tusd-bench}
source "$(dirname "$0")/lib.sh"
ROUNDS=${1:-3}
SIZE_MIB=${SIZE_MIB:-1024}
CHUNK_MIB=${CHUNK_MIB:-64}
HANDOFF_ROUNDS=${HANDOFF_ROUNDS:-10}
TUSD_VERSION=v2.9.1
TUSD=${TUSD:-/tmp/tusd-$TUSD_VERSION/tusd}
SERVERS=${SERVERS:-tusd fileserver fileserver-nosync}
read -r -a SERVERS <<<"$SERVERS"

finish() {
	cleanup
	rm -rf "$BENCH_DIR/big.bin" "$BENCH_DIR"/data-*
}
trap finish EXIT

rm -rf "$BENCH_DIR" && mkdir -p "$BENCH_DIR"
if [ ! -x "$TUSD" ]; then
	# For measurement only: built outside the repository, never vendored.
	mkdir -p "$(dirname "$TUSD")"
	(cd /tmp && GOBIN=$(dirname "$TUSD") timeout 900 go install "github.com/tus/tusd/v2/cmd/tusd@$TUSD_VERSION")
fi
build_fileserver
(cd "$ROOT" && go build -o "$BENCH_DIR/tusclient" ./bench/tusclient)
big=$BENCH_DIR/big.bin
head -c $((SIZE_MIB << 20)) /dev/urandom >"$big"
size=$(stat -c %s "$big")

# start_fs PORT DATA FSYNC -> sets FS_PID (lib.sh's start_fileserver, with storage.fsync)
start_fs() { FS_ARGS="--set storage.fsync=$3" start_fileserver "$1" "$2"; }

declare -A PORT PID DATA SECRET_OF
for s in "${SERVERS[@]}"; do
	PORT[$s]=$(free_port)
	DATA[$s]=$BENCH_DIR/data-$s
	SECRET_OF[$s]=$SECRET
	case $s in
	tusd)
		mkdir -p "${DATA[$s]}"
		"$TUSD" -upload-dir "${DATA[$s]}" -host 127.0.0.1 -port "${PORT[$s]}" >>"$BENCH_DIR/tusd.log" 2>&1 &
		PID[$s]=$!
		PIDS+=("${PID[$s]}")
		wait_port "${PORT[$s]}"
		SECRET_OF[$s]=""
		;;
	fileserver) start_fs "${PORT[$s]}" "${DATA[$s]}" true && PID[$s]=$FS_PID ;;
	fileserver-nosync) start_fs "${PORT[$s]}" "${DATA[$s]}" false && PID[$s]=$FS_PID ;;
	*) echo "unknown server $s" >&2 && exit 2 ;;
	esac
done

# drop SERVER ID: remove a finished upload's data (the 1 GiB), then flush what is dirty so
# that no run pays for the previous one's writeback.
drop() {
	rm -f "${DATA[$1]}/$2" "${DATA[$1]}/$2.info" "${DATA[$1]}/files/$2" "${DATA[$1]}/partial/$2"
	sync
}
ingest() { # server chunk-bytes -> "seconds id"
	timeout 300 "$BENCH_DIR/tusclient" ingest -endpoint "http://127.0.0.1:${PORT[$1]}/files/" \
		-secret "${SECRET_OF[$1]}" -file "$big" -chunk "$2"
}

# Warm-up: one upload per server (connection set-up, first files), not counted.
cat "$big" >/dev/null
for s in "${SERVERS[@]}"; do
	read -r _ id < <(ingest "$s" $((CHUNK_MIB << 20)))
	drop "$s" "$id"
done

declare -A T CPU
MODES=(chunked single)
for m in "${MODES[@]}"; do for s in "${SERVERS[@]}"; do T[$m,$s]="" CPU[$m,$s]=0; done; done
n=${#SERVERS[@]}
for r in $(seq "$ROUNDS"); do
	order=()
	for i in $(seq 0 $((n - 1))); do order+=("${SERVERS[$(((i + r) % n))]}"); done
	for m in "${MODES[@]}"; do
		chunk=$((CHUNK_MIB << 20))
		[ "$m" = single ] && chunk=0
		for s in "${order[@]}"; do
			c0=$(cpu_ticks "${PID[$s]}")
			read -r t id < <(ingest "$s" "$chunk")
			c1=$(cpu_ticks "${PID[$s]}")
			[ -n "${id:-}" ] || { echo "$s $m: upload failed" >&2 && exit 1; }
			T[$m,$s]+="$t " CPU[$m,$s]=$((CPU[$m,$s] + c1 - c0))
			drop "$s" "$id"
		done
	done
	line="round $r:"
	for s in "${SERVERS[@]}"; do line+=" $s [${T[chunked,$s]}| ${T[single,$s]}]"; done
	echo "$line seconds (chunked | single)" >&2
done

# Hand-off: the stale PATCH announces 16 MiB and sends 1 MiB; servers alternate every round.
declare -A H
for s in "${SERVERS[@]}"; do H[$s]=""; done
for r in $(seq "$HANDOFF_ROUNDS"); do
	for i in $(seq 0 $((n - 1))); do
		s=${SERVERS[$(((i + r) % n))]}
		out=$(timeout 120 "$BENCH_DIR/tusclient" handoff -endpoint "http://127.0.0.1:${PORT[$s]}/files/" \
			-secret "${SECRET_OF[$s]}" -rounds 1)
		echo "handoff $s: $out" >&2
		H[$s]+="$(echo "$out" | awk '$2 == 200 && $3 == 1048576 {print $1}') "
	done
done

med() { echo "$1" | tr ' ' '\n' | grep . | median; }
count() { echo "$1" | wc -w; }
gb=$(awk -v b="$size" -v r="$ROUNDS" 'BEGIN {print b * r / 1e9}')
printf '%-30s' metric
for s in "${SERVERS[@]}"; do printf ' %18s' "$s"; done
printf ' %-6s' unit
for s in "${SERVERS[@]:1}"; do printf ' %18s' "$s/${SERVERS[0]}"; done
echo
row() { # label unit value...
	local l=$1 u=$2
	shift 2
	printf '%-30s' "$l"
	for v in "$@"; do printf ' %18.3f' "$v"; done
	printf ' %-6s' "$u"
	local base=$1
	shift
	for v in "$@"; do awk -v a="$v" -v b="$base" 'BEGIN {printf " %17.3gx", (b > 0) ? a / b : 0}'; done
	echo
}
for m in "${MODES[@]}"; do
	label="${SIZE_MIB} MiB in ${CHUNK_MIB} MiB PATCHes"
	[ "$m" = single ] && label="${SIZE_MIB} MiB in one PATCH"
	vals=() cpus=()
	for s in "${SERVERS[@]}"; do
		vals+=("$(awk -v b="$size" -v t="$(med "${T[$m,$s]}")" 'BEGIN {print b / t / 1e6}')")
		cpus+=("$(awk -v c="${CPU[$m,$s]}" -v k="$TICKS" -v g="$gb" 'BEGIN {print c / k / g}')")
	done
	row "$label" MB/s "${vals[@]}"
	row "  server CPU" s/GB "${cpus[@]}"
done
vals=()
for s in "${SERVERS[@]}"; do vals+=("$(awk -v k="$(peak_rss_kib "${PID[$s]}")" 'BEGIN {print k / 1024}')"); done
row "peak RSS" MiB "${vals[@]}"
vals=() ok=""
for s in "${SERVERS[@]}"; do
	vals+=("$(med "${H[$s]}")")
	ok+=" $s $(count "${H[$s]}")/$HANDOFF_ROUNDS"
done
row "HEAD during a stale PATCH" ms "${vals[@]}"
echo "rounds=$ROUNDS size=${SIZE_MIB}MiB chunk=${CHUNK_MIB}MiB cpus=$(nproc) kernel=$(uname -r) tusd=$TUSD_VERSION" \
	"fileserver=$(cd "$ROOT" && git describe --always --dirty) handoff rounds with 200 and the stale bytes kept:$ok"
echo "fileserver acknowledges a PATCH only after its data is fdatasync'ed; tusd never fsyncs" \
	"(fileserver-nosync: storage.fsync = false). Throughput and hand-off are medians; CPU is the total over all rounds."
