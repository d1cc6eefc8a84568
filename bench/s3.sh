#!/usr/bin/env bash
# Ingest into S3: a PUT through fileserver (storage.backend = "s3") beside the same bytes
# written straight into the same store with minio-go's PutObject (bench/s3put), same machine,
# same run, in interleaved rounds (the order rotates every round).
# The store is versitygw (posix backend) on 127.0.0.1; its directory and the source files are
# on one filesystem (BENCH_DIR). Contenders:
#   fileserver     curl -T FILE to a v2-signed URL; fileserver streams it into a multipart
#                  upload (storage.s3.part_size, storage.s3.concurrency) and answers 201.
#   putobject      s3put: PutObject of the *os.File with minio-go's default options.
#   putobject-PxC  s3put with PartSize P MiB and NumThreads C, fileserver's settings.
# 1. SIZE_MIB uploads: throughput (medians), CPU seconds per GB of fileserver, of the client
#    (curl or s3put) and of versitygw (user+sys from /proc/PID/stat or getrusage, totalled
#    over the rounds), peak RSS (VmHWM) of fileserver over its life and of s3put.
# 2. Memory: a fresh fileserver with streaming.memory_budget = MEM_BUDGET takes a 128 MiB
#    upload, then a MEM_SIZE_MIB one; its VmHWM idle, after each, and at quarters of the big
#    one's duration show whether memory grows with the object.
# Objects are deleted and `sync` runs between uploads, outside the timing. Everything listens
# on 127.0.0.1 only; every client run is bounded by `timeout`.
# Usage: bench/s3.sh [rounds]   (default 5)
# Env: BENCH_DIR (default /var/tmp/s3-bench; deleted at exit), SIZE_MIB (1024), MEM_SIZE_MIB
# (2048), MEM_BUDGET (64MiB), PART_MIB (8) and CONCURRENCY (2) for fileserver and the matched
# PutObject, VERSITYGW (default: versitygw on PATH, else /root/go/bin/versitygw; install with
# go install github.com/versity/versitygw/cmd/versitygw@v1.8.0), FS_BIN (a fileserver binary
# instead of a fresh build).
set -euo pipefail
BENCH_DIR=${BENCH_DIR:-/var/tmp/s3-bench}
source "$(dirname "$0")/lib.sh"
ROUNDS=${1:-5}
SIZE_MIB=${SIZE_MIB:-1024}
MEM_SIZE_MIB=${MEM_SIZE_MIB:-2048}
MEM_BUDGET=${MEM_BUDGET:-64MiB}
PART_MIB=${PART_MIB:-8}
CONCURRENCY=${CONCURRENCY:-2}
VERSITYGW=${VERSITYGW:-$(command -v versitygw || echo /root/go/bin/versitygw)}
S3_ACCESS=bench-access
S3_SECRET=bench-secret-key-0123456789
BUCKET=bench
MATCHED=putobject-${PART_MIB}x$CONCURRENCY
CONTENDERS=(fileserver putobject "$MATCHED")

finish() {
	cleanup
	rm -rf "$BENCH_DIR"
}
trap finish EXIT

rm -rf "$BENCH_DIR" && mkdir -p "$BENCH_DIR"
# Source files, the objects and versitygw's part staging: about 2x SIZE and 3x MEM_SIZE.
need_mib=$((2 * SIZE_MIB + 3 * MEM_SIZE_MIB + 1024))
free_mib=$(df -m --output=avail "$BENCH_DIR" | tail -1)
[ "$free_mib" -ge "$need_mib" ] || { echo "need $need_mib MiB free in $BENCH_DIR, have $free_mib" >&2 && exit 1; }
[ -x "$VERSITYGW" ] || { echo "no versitygw at $VERSITYGW" >&2 && exit 1; }
if [ -z "${FS_BIN:-}" ]; then
	build_fileserver
	FS_LABEL="$(cd "$ROOT" && git describe --always --dirty) (built from the tree)"
fi
FS=${FS_BIN:-$BENCH_DIR/fileserver}
FS_LABEL=${FS_LABEL:-$FS}
(cd "$ROOT" && go build -o "$BENCH_DIR/s3put" ./bench/s3put)
big=$BENCH_DIR/big.bin memsmall=$BENCH_DIR/mem-small.bin membig=$BENCH_DIR/mem-big.bin
head -c $((SIZE_MIB << 20)) /dev/urandom >"$big"
sync
size=$(stat -c %s "$big")
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# The object store: one versitygw for every contender; the bucket is a directory.
GW_DIR=$BENCH_DIR/gw
mkdir -p "$GW_DIR/$BUCKET"
GW_PORT=$(free_port)
ROOT_ACCESS_KEY=$S3_ACCESS ROOT_SECRET_KEY=$S3_SECRET "$VERSITYGW" --port "127.0.0.1:$GW_PORT" posix "$GW_DIR" \
	>>"$BENCH_DIR/versitygw.log" 2>&1 &
GW_PID=$!
PIDS+=("$GW_PID")
wait_port "$GW_PORT"

# fileserver reads the s3 settings from the environment; lib.sh's start_fileserver writes the
# rest (listen, secret, log level, [streaming]).
export FILESERVER_STORAGE_BACKEND=s3 FILESERVER_STORAGE_S3_ENDPOINT=http://127.0.0.1:$GW_PORT \
	FILESERVER_STORAGE_S3_BUCKET=$BUCKET FILESERVER_STORAGE_S3_ACCESS_KEY=$S3_ACCESS \
	FILESERVER_STORAGE_S3_SECRET_KEY=$S3_SECRET FILESERVER_STORAGE_S3_PATH_STYLE=true \
	FILESERVER_STORAGE_S3_PART_SIZE=${PART_MIB}MiB FILESERVER_STORAGE_S3_CONCURRENCY=$CONCURRENCY \
	FILESERVER_SESSIONS_SINGLE_NODE=true FILESERVER_UPLOAD_MAX_SIZE=$((SIZE_MIB > MEM_SIZE_MIB ? SIZE_MIB : MEM_SIZE_MIB))MiB
FS_PORT=$(free_port)
FS_BIN=$FS start_fileserver "$FS_PORT" "$BENCH_DIR/fs-data"
FS_MAIN=$FS_PID

# drop KEY: delete the object (versitygw's posix backend keeps it as a file of that name),
# then flush what is dirty so that no upload pays for the previous one's writeback.
drop() {
	rm -f "$GW_DIR/$BUCKET/$1"
	sync
}
stored() { stat -c %s "$GW_DIR/$BUCKET/$1" 2>/dev/null || echo 0; }

# put CONTENDER FILE KEY [PORT] -> "seconds client-cpu-seconds client-peak-rss-KiB"
put() {
	local who=$1 file=$2 key=$3 port=${4:-$FS_PORT} n url out
	case $who in
	fileserver)
		n=$(stat -c %s "$file")
		url=$("$FS" sign --protocol v2 --path "$key" --size "$n" --base "http://127.0.0.1:$port" --secret "$SECRET")
		out=$(timeout 600 /usr/bin/time -f '%U %S %M' -o "$BENCH_DIR/curl.time" \
			curl -sS -o /dev/null -w '%{http_code} %{time_total}' -T "$file" "$url")
		[ "${out%% *}" = 201 ] || { echo "fileserver PUT $key: $out" >&2 && return 1; }
		awk -v t="${out#* }" '{print t, $1 + $2, $3}' "$BENCH_DIR/curl.time"
		;;
	putobject | "$MATCHED")
		local opts=()
		[ "$who" = putobject ] || opts=(-part-size $((PART_MIB << 20)) -threads "$CONCURRENCY")
		timeout 600 "$BENCH_DIR/s3put" -endpoint "http://127.0.0.1:$GW_PORT" -bucket "$BUCKET" \
			-access "$S3_ACCESS" -secret "$S3_SECRET" -file "$file" -key "$key" "${opts[@]}"
		;;
	esac
}

# Warm-up: one upload each (connections, first objects, page cache), checked byte for byte.
cat "$big" >/dev/null
for c in "${CONTENDERS[@]}"; do
	put "$c" "$big" "warm-$c" >/dev/null
	cmp -s "$big" "$GW_DIR/$BUCKET/warm-$c" || { echo "$c: stored object differs from the source" >&2 && exit 1; }
	drop "warm-$c"
done

declare -A T CCPU CRSS GWCPU
for c in "${CONTENDERS[@]}"; do T[$c]="" CCPU[$c]=0 CRSS[$c]="" GWCPU[$c]=0; done
FSCPU=0 RATIOS=""
n=${#CONTENDERS[@]}
for r in $(seq "$ROUNDS"); do
	declare -A this=()
	for i in $(seq 0 $((n - 1))); do
		c=${CONTENDERS[$(((i + r) % n))]}
		key=r$r-$c
		g0=$(cpu_ticks "$GW_PID") f0=$(cpu_ticks "$FS_MAIN")
		read -r t cc rss < <(put "$c" "$big" "$key")
		g1=$(cpu_ticks "$GW_PID") f1=$(cpu_ticks "$FS_MAIN")
		[ "$(stored "$key")" = "$size" ] || { echo "$c: object $key has $(stored "$key") bytes, want $size" >&2 && exit 1; }
		T[$c]+="$t " CRSS[$c]+="$rss " this[$c]=$t
		CCPU[$c]=$(awk -v a="${CCPU[$c]}" -v b="$cc" 'BEGIN {print a + b}')
		GWCPU[$c]=$((GWCPU[$c] + g1 - g0))
		[ "$c" = fileserver ] && FSCPU=$((FSCPU + f1 - f0))
		drop "$key"
	done
	# Per-round ratio of throughput, fileserver / default PutObject (robust to drifting load).
	RATIOS+="$(awk -v a="${this[fileserver]}" -v b="${this[putobject]}" 'BEGIN {print b / a}') "
	line="round $r:"
	for c in "${CONTENDERS[@]}"; do line+=" $c ${this[$c]}s"; done
	echo "$line; fileserver VmHWM $(($(peak_rss_kib "$FS_MAIN") / 1024)) MiB" >&2
done
fs_hwm=$(peak_rss_kib "$FS_MAIN")
load_mid=$(cut -d' ' -f1-3 /proc/loadavg)

# Memory: a fresh fileserver with a smaller budget; VmHWM idle, after 128 MiB, after MEM_SIZE.
kill "$FS_MAIN" && wait "$FS_MAIN" 2>/dev/null || true
head -c $((128 << 20)) "$big" >"$memsmall"
head -c $((MEM_SIZE_MIB << 20)) /dev/urandom >"$membig"
sync
MEM_PORT=$(free_port)
FS_BIN=$FS start_fileserver "$MEM_PORT" "$BENCH_DIR/fs-mem" "memory_budget = \"$MEM_BUDGET\""
hwm_idle=$(peak_rss_kib "$FS_PID")
read -r t_small _ < <(put fileserver "$memsmall" mem-small "$MEM_PORT")
hwm_small=$(peak_rss_kib "$FS_PID")
drop mem-small
# VmHWM sampled every 0.2 s during the big upload, to see whether it still grows late in it.
(while kill -0 "$FS_PID" 2>/dev/null; do
	echo "$(date +%s.%N) $(peak_rss_kib "$FS_PID")"
	sleep 0.2
done) >"$BENCH_DIR/hwm.samples" &
sampler=$!
read -r t_mem _ < <(put fileserver "$membig" mem-big "$MEM_PORT")
hwm_big=$(peak_rss_kib "$FS_PID")
kill "$sampler" && wait "$sampler" 2>/dev/null || true
# VmHWM at 1/4, 1/2 and 3/4 of the upload's duration (from the first sample on).
hwm_quarters=$(awk -v t="$t_mem" 'NR == 1 {t0 = $1} {for (q = 1; q <= 3; q++) if ($1 - t0 <= t * q / 4) h[q] = $2}
	END {printf "%d / %d / %d", h[1] / 1024, h[2] / 1024, h[3] / 1024}' "$BENCH_DIR/hwm.samples")
[ "$(stored mem-big)" = "$(stat -c %s "$membig")" ] || { echo "memory run: object incomplete" >&2 && exit 1; }
drop mem-big
rm -f "$membig" "$memsmall"

med() { echo "$1" | tr ' ' '\n' | grep . | median; }
gb=$(awk -v b="$size" -v r="$ROUNDS" 'BEGIN {print b * r / 1e9}')
persec() { awk -v c="$1" -v g="$gb" 'BEGIN {print c / g}'; }
ticks() { awk -v c="$1" -v k="$TICKS" 'BEGIN {print c / k}'; }
printf '%-34s' metric
for c in "${CONTENDERS[@]}"; do printf ' %15s' "$c"; done
printf ' %-6s' unit
for c in "${CONTENDERS[@]:1}"; do printf ' %24s' "fileserver/$c"; done
echo
row() { # label unit value... (ratios: the first value over each other one; "-" for none)
	local l=$1 u=$2
	shift 2
	printf '%-34s' "$l"
	for v in "$@"; do if [ "$v" = - ]; then printf ' %15s' -; else printf ' %15.3f' "$v"; fi; done
	printf ' %-6s' "$u"
	local first=$1
	shift
	for v in "$@"; do
		if [ "$v" = - ]; then printf ' %24s' -; else awk -v a="$first" -v b="$v" 'BEGIN {printf " %23.3fx", (b > 0) ? a / b : 0}'; fi
	done
	echo
}
vals=() client=() gw=() total=() rss=()
for c in "${CONTENDERS[@]}"; do
	vals+=("$(awk -v b="$size" -v t="$(med "${T[$c]}")" 'BEGIN {print b / t / 1e6}')")
	client+=("$(persec "${CCPU[$c]}")")
	gw+=("$(persec "$(ticks "${GWCPU[$c]}")")")
	fs=0
	[ "$c" = fileserver ] && fs=$(ticks "$FSCPU")
	total+=("$(awk -v a="${CCPU[$c]}" -v f="$fs" -v g="$(ticks "${GWCPU[$c]}")" -v gb="$gb" 'BEGIN {print (a + f + g) / gb}')")
	rss+=("$(awk -v k="$(med "${CRSS[$c]}")" 'BEGIN {print k / 1024}')")
done
row "${SIZE_MIB} MiB PUT" MB/s "${vals[@]}"
row "  fileserver CPU" s/GB "$(persec "$(ticks "$FSCPU")")" - -
row "  client CPU (curl | s3put)" s/GB "${client[@]}"
row "  versitygw CPU" s/GB "${gw[@]}"
row "  all processes' CPU" s/GB "${total[@]}"
row "  client peak RSS (median)" MiB "${rss[@]}"
echo "per-round throughput ratio fileserver/putobject: $RATIOS-> median $(med "$RATIOS")x"
echo "fileserver peak RSS over the $ROUNDS rounds and warm-up: $((fs_hwm / 1024)) MiB (memory_budget default)"
echo "memory run, memory_budget = $MEM_BUDGET: VmHWM idle $((hwm_idle / 1024)) MiB," \
	"after 128 MiB $((hwm_small / 1024)) MiB ($(awk -v b=$((128 << 20)) -v t="$t_small" 'BEGIN {printf "%.0f", b / t / 1e6}') MB/s)," \
	"after ${MEM_SIZE_MIB} MiB $((hwm_big / 1024)) MiB ($(awk -v b=$((MEM_SIZE_MIB << 20)) -v t="$t_mem" 'BEGIN {printf "%.0f", b / t / 1e6}') MB/s);" \
	"during it, at 1/4 / 1/2 / 3/4 of its time: $hwm_quarters MiB"
echo "rounds=$ROUNDS size=${SIZE_MIB}MiB part=${PART_MIB}MiB concurrency=$CONCURRENCY cpus=$(nproc) kernel=$(uname -r)" \
	"versitygw=$(go version -m "$VERSITYGW" 2>/dev/null | awk '$1 == "mod" {print $3}') dir=$BENCH_DIR ($(df --output=source,fstype "$BENCH_DIR" | tail -1 | tr -s ' '))" \
	"fileserver=$FS_LABEL load average: $load_start at start, $load_mid after the rounds, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
