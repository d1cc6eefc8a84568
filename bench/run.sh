#!/usr/bin/env bash
# Side-by-side benchmark of fileserver against nginx (WebDAV PUT) on the same filesystem,
# same machine, same run, in interleaved rounds. Prints medians and ratios (fileserver /
# nginx): 1 GiB PUT (durable for fileserver: synced before its 201; nginx does not sync),
# 1 GiB GET, 4 KiB GET req/s and random 1 MiB Range GETs (wrk), CPU seconds per GB and peak
# RSS; and, as the ceiling of a durable PUT, the disk's own pace writing the same file with
# dd (O_DIRECT, then fdatasync). Everything listens on 127.0.0.1 only. Usage: bench/run.sh
# [rounds]. Env: BENCH_DIR (default /var/tmp/fileserver-bench), SIZE_MIB (1024), WRK_SECONDS
# (5), FS_STREAMING (extra [streaming] TOML lines for fileserver), FS_LOG_LEVEL and
# NGINX_ACCESS_LOG (see lib.sh; default: as each server ships).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROUNDS=${1:-3}
SIZE_MIB=${SIZE_MIB:-1024}
export RANGE_FILE_BYTES=$((SIZE_MIB << 20)) # for range.lua
WRK_SECONDS=${WRK_SECONDS:-5}
trap cleanup EXIT

prepare_get_bench
size=$(stat -c %s "$big")

np=$(free_port) fp=$(free_port)
start_nginx "$np" "$BENCH_DIR/nginx-root"
start_fileserver "$fp" "$BENCH_DIR/fs-data" "${FS_STREAMING:-}"
ngx="http://127.0.0.1:$np/upload" fs="http://127.0.0.1:$fp/upload"

put() { # server name file -> seconds
	local url
	if [ "$1" = nginx ]; then url="$ngx/$2"; else url="$fs/$2?v=$(sign_v1 "$2" "$(stat -c %s "$3")")"; fi
	warm "$3" # what curl sends comes from memory, not from the disk the PUT writes to
	curl -sS -o /dev/null -w '%{http_code} %{time_total}\n' -T "$3" "$url" | {
		read -r code t
		[ "$code" = 201 ] || { echo "$1 PUT $2: HTTP $code" >&2; exit 1; }
		echo "$t"
	}
}
get() { # url -> seconds
	curl -sS -o /dev/null -w '%{http_code} %{time_total}\n' "$1" | {
		read -r code t
		[ "$code" = 200 ] || { echo "GET $1: HTTP $code" >&2; exit 1; }
		echo "$t"
	}
}
pids() { if [ "$1" = nginx ]; then nginx_pids; else echo "$FS_PID"; fi; }
drop() { # server name
	if [ "$1" = nginx ]; then rm -f "$BENCH_DIR/nginx-root/upload/$2"; else rm -f "$BENCH_DIR/fs-data/files/$2" "$BENCH_DIR/fs-data"/meta/"$2"* 2>/dev/null || true; fi
}

declare -A T CPU
for s in nginx fileserver; do T[put_$s]="" T[get_$s]="" CPU[put_$s]=0 CPU[get_$s]=0; done
T[dd]=""
put nginx get.bin "$big" >/dev/null
put fileserver get.bin "$big" >/dev/null
put nginx small.bin "$small" >/dev/null
put fileserver small.bin "$small" >/dev/null
sync

for r in $(seq "$ROUNDS"); do
	order="nginx fileserver"
	[ $((r % 2)) = 0 ] && order="fileserver nginx"
	for s in $order; do
		# nginx answers before its bytes are on disk; without this the kernel would write
		# them back during the next server's PUT, which would pay for them.
		sync
		c0=$(cpu_ticks $(pids $s))
		t=$(put "$s" "r$r.bin" "$big")
		c1=$(cpu_ticks $(pids $s))
		T[put_$s]+="$t "
		CPU[put_$s]=$((CPU[put_$s] + c1 - c0))
		drop "$s" "r$r.bin"
	done
	for s in $order; do
		url="$ngx/get.bin" file=$BENCH_DIR/nginx-root/upload/get.bin
		[ "$s" = fileserver ] && url="$fs/get.bin" file=$BENCH_DIR/fs-data/files/get.bin
		warm "$file"
		c0=$(cpu_ticks $(pids $s))
		t=$(get "$url")
		c1=$(cpu_ticks $(pids $s))
		T[get_$s]+="$t "
		CPU[get_$s]=$((CPU[get_$s] + c1 - c0))
	done
	# The disk's own pace for a durable write of the same bytes (what fileserver's PUT waits
	# for before its 201 and nginx's does not): the ceiling of a durable PUT on this machine.
	warm "$big"
	T[dd]+="$(dd if="$big" of="$BENCH_DIR/dd.out" bs=1M oflag=direct conv=fdatasync 2>&1 | awk '/copied/ {print $(NF-3)}') "
	rm -f "$BENCH_DIR/dd.out"
	echo "round $r done: PUT seconds nginx [${T[put_nginx]}] fileserver [${T[put_fileserver]}] dd [${T[dd]}]; GET seconds nginx [${T[get_nginx]}] fileserver [${T[get_fileserver]}]" >&2
done

wrk_rps() { # url [lua] -> requests/s
	local args=(-t2 -c64 "-d${WRK_SECONDS}s")
	[ -n "${2:-}" ] && args=(-t2 -c16 "-d${WRK_SECONDS}s" -s "$2")
	wrk "${args[@]}" "$1" | awk '/^Requests\/sec/ {print $2}'
}
declare -A R
for s in nginx fileserver; do R[small_$s]="" R[range_$s]=""; done
for r in $(seq "$ROUNDS"); do
	order="nginx fileserver"
	[ $((r % 2)) = 0 ] && order="fileserver nginx"
	for s in $order; do
		base=$ngx file=$BENCH_DIR/nginx-root/upload/get.bin
		[ "$s" = fileserver ] && base=$fs file=$BENCH_DIR/fs-data/files/get.bin
		R[small_$s]+="$(wrk_rps "$base/small.bin") "
		warm "$file"
		R[range_$s]+="$(wrk_rps "$base/get.bin" "$ROOT/bench/range.lua") "
	done
done

gb=$(awk -v b="$size" -v r="$ROUNDS" 'BEGIN {print b * r / 1e9}')
med() { echo "$1" | tr ' ' '\n' | grep . | median; }
row() { # label nginx fileserver unit higher-is-better(1|0)
	awk -v l="$1" -v n="$2" -v f="$3" -v u="$4" -v h="$5" 'BEGIN {
		ratio = (n > 0) ? f / n : 0
		printf "%-28s %12.3f %12.3f %-8s %6.2fx%s\n", l, n, f, u, ratio, (h ? "" : " (lower is better)")
	}'
}
printf '%-28s %12s %12s %-8s %7s\n' metric nginx fileserver unit ratio
for op in put get; do
	n=$(med "${T[${op}_nginx]}") f=$(med "${T[${op}_fileserver]}")
	row "${SIZE_MIB} MiB ${op^^} throughput" "$(awk -v b="$size" -v t="$n" 'BEGIN {print b / t / 1e9}')" \
		"$(awk -v b="$size" -v t="$f" 'BEGIN {print b / t / 1e9}')" GB/s 1
	row "${SIZE_MIB} MiB ${op^^} CPU" "$(awk -v c="${CPU[${op}_nginx]}" -v k="$TICKS" -v g="$gb" 'BEGIN {print c / k / g}')" \
		"$(awk -v c="${CPU[${op}_fileserver]}" -v k="$TICKS" -v g="$gb" 'BEGIN {print c / k / g}')" s/GB 0
done
awk -v b="$size" -v d="$(med "${T[dd]}")" -v f="$(med "${T[put_fileserver]}")" 'BEGIN {
	printf "%-28s %12s %12.3f %-8s %6.2fx (fileserver PUT / disk)\n", "durable write (dd direct)", "", b / d / 1e9, "GB/s", d / f
}'
row "4 KiB GET" "$(med "${R[small_nginx]}")" "$(med "${R[small_fileserver]}")" req/s 1
row "random 1 MiB Range GET" "$(med "${R[range_nginx]}")" "$(med "${R[range_fileserver]}")" req/s 1
row "peak RSS" "$(($(peak_rss_kib $(nginx_pids)) / 1024))" "$(($(peak_rss_kib "$FS_PID") / 1024))" MiB 0
echo "rounds=$ROUNDS size=${SIZE_MIB}MiB cpus=$(nproc) kernel=$(uname -r) nginx=$(nginx -v 2>&1 | sed 's/.*\///')"
