#!/usr/bin/env bash
# How fast `fileserver import` adopts a tree: FILES small files (4 KiB) laid out as
# prosody-filer lays them out (storeDir/<random>/<name>) on the data directory's
# filesystem, imported by hard link with the default storage settings (fsync and checksums
# on), then a second run (which must find everything there). Prints files per second.
# Usage: bench/import.sh   Env: FILES (100000), BENCH_DIR (/var/tmp/import-bench).
set -euo pipefail
BENCH_DIR=${BENCH_DIR:-/var/tmp/import-bench}
source "$(dirname "$0")/lib.sh"
FILES=${FILES:-100000}
trap 'rm -rf "$BENCH_DIR"' EXIT
rm -rf "$BENCH_DIR" && mkdir -p "$BENCH_DIR/store"
build_fileserver
python3 - "$BENCH_DIR/store" "$FILES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
body = os.urandom(4096)
for i in range(n):
    d = os.path.join(root, "%032x" % (i * 2654435761 % (1 << 127)))
    os.mkdir(d)
    with open(os.path.join(d, "photo.jpg"), "wb") as f:
        f.write(body[:4000] + i.to_bytes(8, "big") + body[4008:])
PY
sync
cfg=(--set "storage.path=$BENCH_DIR/data" --set "auth.secret=$SECRET")
for run in first second; do
	/usr/bin/time -o "$BENCH_DIR/time" -f '%e %U %S %M' "$BENCH_DIR/fileserver" import --from prosody-filer --source "$BENCH_DIR/store" "${cfg[@]}" >"$BENCH_DIR/out" 2>/dev/null
	read -r wall user sys kib <"$BENCH_DIR/time"
	awk -v r="$run" -v w="$wall" -v u="$user" -v s="$sys" -v k="$kib" -v n="$FILES" -v l="$(tail -1 "$BENCH_DIR/out")" \
		'BEGIN {printf "%s run: %d files in %.1f s (%.0f files/s), %.1f CPU-s, peak RSS %d MiB: %s\n", r, n, w, n / w, u + s, k / 1024, l}'
done
