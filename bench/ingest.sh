#!/usr/bin/env bash
# Durable 1 GiB PUT ingest, variant against variant, on the same machine in interleaved
# rounds (the order rotates every round): seconds, GB/s and server CPU seconds per GB,
# medians, with each variant's ratio to the first. Everything on 127.0.0.1, curl -T as the
# client (as bench/run.sh), files deleted after every round and the data directories at exit.
#
# Usage: bench/ingest.sh [rounds] [variant...]
# A variant is NAME=KIND:ARG[:EXTRA]
#   NAME=fs:BINARY[:TOML[:ARGS]] fileserver BINARY; TOML are extra [streaming] lines, ';'
#                                between lines (e.g. 'max_buffer="4MiB";buffer_size="4MiB"');
#                                ARGS extra serve flags (e.g. '--set storage.checksum=false')
#   NAME=proto:MODE[:FLAGS]      bench/ingestsplice in MODE (splice|rw), FLAGS as its flags
# Default variants: today (fileserver built from this tree), buf4m (same, 4 MiB buffers),
# splice and rw+sha (the prototype).
# Env: BENCH_DIR (default /var/tmp/fileserver-ingest), SIZE_MIB (1024).
set -euo pipefail
BENCH_DIR=${BENCH_DIR:-/var/tmp/fileserver-ingest}
source "$(dirname "$0")/lib.sh"
SIZE_MIB=${SIZE_MIB:-1024}
ROUNDS=${1:-5}
shift || true
finish() {
	cleanup
	rm -rf "$BENCH_DIR"
}
trap finish EXIT
sign_v1() { printf '%s' "$1 $2" | openssl dgst -sha256 -hmac "$SECRET" | awk '{print $NF}'; }

rm -rf "$BENCH_DIR" && mkdir -p "$BENCH_DIR"
build_fileserver
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$BENCH_DIR/ingestsplice" ./bench/ingestsplice)
if [ $# = 0 ]; then
	set -- "today=fs:$BENCH_DIR/fileserver" \
		"buf4m=fs:$BENCH_DIR/fileserver:max_buffer=\"4MiB\";buffer_size=\"4MiB\"" \
		"splice=proto:splice" "rw+sha=proto:rw:-hash"
fi

declare -A URL PID DATA
NAMES=()
for v in "$@"; do
	name=${v%%=*} spec=${v#*=}
	kind=${spec%%:*} rest=${spec#*:}
	arg=${rest%%:*} extra=""
	[ "$arg" != "$rest" ] && extra=${rest#*:}
	port=$(free_port) data=$BENCH_DIR/data-$name
	mkdir -p "$data"
	case $kind in
	fs)
		args=""
		[ "${extra#*:}" != "$extra" ] && args=${extra#*:} extra=${extra%%:*}
		FS_BIN=$arg FS_ARGS=$args start_fileserver "$port" "$data" "$(echo "$extra" | tr ';' '\n')"
		URL[$name]="fs http://127.0.0.1:$port/upload" PID[$name]=$FS_PID
		;;
	proto)
		# shellcheck disable=SC2086
		"$BENCH_DIR/ingestsplice" -listen "127.0.0.1:$port" -dir "$data" -mode "$arg" $extra 2>>"$BENCH_DIR/$name.log" &
		URL[$name]="proto http://127.0.0.1:$port/upload" PID[$name]=$!
		PIDS+=("$!")
		wait_port "$port"
		;;
	*) echo "unknown variant kind in $v" >&2; exit 2 ;;
	esac
	DATA[$name]=$data
	NAMES+=("$name")
done

big=$BENCH_DIR/big.bin
head -c $((SIZE_MIB << 20)) /dev/urandom >"$big"
size=$(stat -c %s "$big")
sync

put() { # variant file-name -> "seconds"
	local kind=${URL[$1]%% *} base=${URL[$1]#* } url
	url="$base/$2"
	[ "$kind" = fs ] && url="$url?v=$(sign_v1 "$2" "$size")"
	curl -sS -o /dev/null -w '%{http_code} %{time_total}\n' -T "$big" "$url" | {
		read -r code t
		[ "$code" = 201 ] || { echo "$1 PUT $2: HTTP $code" >&2; exit 1; }
		echo "$t"
	}
}
drop() { find "${DATA[$1]}" -name "$2*" -type f -delete; rm -rf "${DATA[$1]}/meta"/*; }

# A warm-up PUT each, not counted.
for n in "${NAMES[@]}"; do put "$n" warm.bin >/dev/null; drop "$n" warm.bin; done

declare -A T C
n=${#NAMES[@]}
for r in $(seq "$ROUNDS"); do
	line="round $r:"
	for i in $(seq 0 $((n - 1))); do
		name=${NAMES[$(((i + r) % n))]}
		sync
		c0=$(cpu_ticks "${PID[$name]}")
		t=$(put "$name" "r$r.bin")
		c1=$(cpu_ticks "${PID[$name]}")
		T[$name]+="$t "
		C[$name]+="$(awk -v c=$((c1 - c0)) -v k="$TICKS" -v b="$size" 'BEGIN {print c / k / (b / 1e9)}') "
		drop "$name" "r$r.bin"
		line+=" $name ${t}s"
	done
	echo "$line" >&2
done

printf '%-10s %9s %9s %10s %7s   %s\n' variant seconds GB/s CPU-s/GB ratio "rounds (s)"
first=""
for name in "${NAMES[@]}"; do
	t=$(echo "${T[$name]}" | tr ' ' '\n' | grep . | median)
	c=$(echo "${C[$name]}" | tr ' ' '\n' | grep . | median)
	[ -z "$first" ] && first=$t
	awk -v n="$name" -v t="$t" -v c="$c" -v b="$size" -v f="$first" -v all="${T[$name]}" \
		'BEGIN {printf "%-10s %9.3f %9.3f %10.2f %6.2fx   %s\n", n, t, b / t / 1e9, c, f / t, all}'
done
echo "rounds=$ROUNDS size=${SIZE_MIB}MiB cpus=$(nproc) kernel=$(uname -r) (ratio: first variant's median time / this one's; > 1 is faster)"
