#!/usr/bin/env bash
# What the number of stored objects costs on S3: a bucket of versitygw (posix backend) holding
# OBJECTS 4 KiB objects written through the s3 backend's own writer (bench/manyfiles
# -s3-endpoint), 1 % of them made older than upload.ttl before each pass (see age), then:
# time from start to ready, the CPU and wall time of fileserver and of versitygw until both
# are idle (the reaper's pass at start), resident memory, and `fileserver gc --dry-run` and
# `fileserver gc`; first for the first start after an upgrade (no expiry index yet), then for
# a later start.
# Usage: bench/many-objects.sh   Env: OBJECTS (100000), BENCH_DIR (/var/tmp/many-objects),
# VERSITYGW (as bench/s3.sh), FS_BIN (a fileserver binary instead of a fresh build),
# REUSE=1 (keep the bucket a previous run left).
set -euo pipefail
BENCH_DIR=${BENCH_DIR:-/var/tmp/many-objects}
source "$(dirname "$0")/lib.sh"
OBJECTS=${OBJECTS:-100000}
AGED=$((OBJECTS / 100))
VERSITYGW=${VERSITYGW:-$(command -v versitygw || echo /root/go/bin/versitygw)}
S3_ACCESS=bench-access
S3_SECRET=bench-secret-key-0123456789
BUCKET=bench
trap cleanup EXIT
[ -x "$VERSITYGW" ] || { echo "no versitygw at $VERSITYGW" >&2 && exit 1; }
GW_DIR=$BENCH_DIR/gw
[ "${REUSE:-}" = 1 ] && [ -d "$GW_DIR/$BUCKET" ] || { rm -rf "$BENCH_DIR" && mkdir -p "$GW_DIR/$BUCKET"; }
if [ -z "${FS_BIN:-}" ]; then build_fileserver; fi
FS=${FS_BIN:-$BENCH_DIR/fileserver}
(cd "$ROOT" && go build -o "$BENCH_DIR/manyfiles" ./bench/manyfiles)

GW_PORT=$(free_port)
ROOT_ACCESS_KEY=$S3_ACCESS ROOT_SECRET_KEY=$S3_SECRET "$VERSITYGW" --port "127.0.0.1:$GW_PORT" posix "$GW_DIR" \
	>>"$BENCH_DIR/versitygw.log" 2>&1 &
GW_PID=$!
PIDS+=("$GW_PID")
wait_port "$GW_PORT"

have=$(find "$GW_DIR/$BUCKET" -type f | wc -l)
if [ "$have" -lt "$OBJECTS" ]; then
	"$BENCH_DIR/manyfiles" -s3-endpoint "http://127.0.0.1:$GW_PORT" -s3-bucket "$BUCKET" \
		-s3-access "$S3_ACCESS" -s3-secret "$S3_SECRET" -n $((OBJECTS - have)) -workers 16 >&2
fi
sync

# age: AGED objects get an mtime two days back, past upload.ttl (24h), which versitygw lists
# as Last-Modified; once the expiry index exists their creation markers move to that hour
# too, as if they had been uploaded then. Objects removed by the previous pass are written
# again first, so every pass finds AGED due objects among OBJECTS.
INDEX=$GW_DIR/$BUCKET/.fileserver-index/expiry
age() {
	have=$(find "$GW_DIR/$BUCKET" -path "$GW_DIR/$BUCKET/.fileserver-index" -prune -o -type f -print | wc -l)
	[ "$have" -ge "$OBJECTS" ] || "$BENCH_DIR/manyfiles" -s3-endpoint "http://127.0.0.1:$GW_PORT" -s3-bucket "$BUCKET" \
		-s3-access "$S3_ACCESS" -s3-secret "$S3_SECRET" -n $((OBJECTS - have)) -workers 16 >/dev/null
	local old
	old=$(printf '%012d' $((($(date +%s) - 172800) / 3600 * 3600)))
	find "$GW_DIR/$BUCKET" -path "$GW_DIR/$BUCKET/.fileserver-index" -prune -o -type f -print | shuf -n "$AGED" >"$BENCH_DIR/aged"
	while read -r f; do
		touch -d '2 days ago' "$f"
		name=${f#"$GW_DIR/$BUCKET/"}
		for m in "$INDEX"/c/*/"$name"; do
			[ -e "$m" ] || continue
			mkdir -p "$(dirname "$INDEX/c/$old/$name")"
			mv "$m" "$INDEX/c/$old/$name"
		done
	done <"$BENCH_DIR/aged"
	sync
}

config() { # PORT
	cat >"$BENCH_DIR/fs-$1.toml" <<TOML
[server]
listen = "127.0.0.1:$1"
[storage]
backend = "s3"
path = "$BENCH_DIR/fs-data"
[storage.s3]
endpoint = "http://127.0.0.1:$GW_PORT"
bucket = "$BUCKET"
access_key = "$S3_ACCESS"
secret_key = "$S3_SECRET"
path_style = true
[sessions]
single_node = true
[auth]
secret = "$SECRET"
[upload]
ttl = "24h"
reap_interval = "24h"
TOML
	echo "$BENCH_DIR/fs-$1.toml"
}

# serve -> one line: start to ready, CPU of fileserver and versitygw until both are idle
serve() {
	local port cfg t0 t1 pid last now idle=0 waited=0 gw0 removed
	port=$(free_port)
	cfg=$(config "$port")
	gw0=$(cpu_ticks "$GW_PID")
	t0=$(date +%s.%N)
	"$FS" serve --config "$cfg" 2>>"$BENCH_DIR/fileserver.log" &
	pid=$!
	PIDS+=("$pid")
	until curl -sf -o /dev/null "http://127.0.0.1:$port/readyz"; do sleep 0.01; done
	t1=$(date +%s.%N)
	curl -s -o /dev/null "http://127.0.0.1:$port/metrics"
	last=$(cpu_ticks "$pid" "$GW_PID")
	while [ $idle -lt 3 ] && [ $waited -lt 900 ]; do
		sleep 1
		waited=$((waited + 1))
		now=$(cpu_ticks "$pid" "$GW_PID")
		# Idle: at most one clock tick in a second, three seconds in a row (versitygw and the
		# Go runtime tick now and then when nothing happens).
		if [ $((now - last)) -le 1 ]; then idle=$((idle + 1)); else idle=0; fi
		last=$now
	done
	local fs gw rss
	fs=$(cpu_ticks "$pid")
	gw=$(($(cpu_ticks "$GW_PID") - gw0))
	rss=$(awk '/^VmHWM/ {print int($2 / 1024)}' "/proc/$pid/status")
	removed=$(grep -c '"reaped expired files"' "$BENCH_DIR/fileserver.log" || true)
	kill -TERM "$pid"
	wait "$pid" || true
	awk -v r="$t0" -v d="$t1" -v f="$fs" -v g="$gw" -v h="$TICKS" -v w="$((waited - 3))" -v s="$rss" \
		'BEGIN {printf "serve: ready %.2f s   until idle ~%d s: fileserver %.1f CPU-s, versitygw %.1f CPU-s   peak RSS %d MiB\n", d - r, w, f / h, g / h, s}'
	grep '"reaped expired files"' "$BENCH_DIR/fileserver.log" | tail -1
}

gcpass() { # [--dry-run]
	local wall user sys kib gw0 gw
	gw0=$(cpu_ticks "$GW_PID")
	/usr/bin/time -o "$BENCH_DIR/time.out" -f '%e %U %S %M' "$FS" gc --config "$(config 1)" "$@" >"$BENCH_DIR/gc.out"
	gw=$(($(cpu_ticks "$GW_PID") - gw0))
	read -r wall user sys kib <"$BENCH_DIR/time.out"
	awk -v a="$*" -v w="$wall" -v u="$user" -v s="$sys" -v k="$kib" -v g="$gw" -v h="$TICKS" -v r="$(tail -1 "$BENCH_DIR/gc.out")" \
		'BEGIN {printf "gc %-9s wall %6.2f s   fileserver %6.2f CPU-s, versitygw %6.2f CPU-s   peak RSS %4d MiB   (%s)\n", a, w, u + s, g / h, k / 1024, r}'
}

echo "$OBJECTS objects, $AGED past upload.ttl before each pass; $(nproc) CPUs, kernel $(uname -r)"
# An upgrade: a bucket an earlier version filled, with no expiry index.
rm -rf "$GW_DIR/$BUCKET/.fileserver-index"
age
echo "first start after the upgrade (lists the bucket, writes the index):"
serve
age
echo "a later start (reads the index):"
serve
age
gcpass --dry-run
gcpass
