# Shared helpers of the benchmark scripts: free ports, our own nginx and fileserver on
# 127.0.0.1, CPU and peak RSS from /proc. Sourced, not run.

BENCH_DIR=${BENCH_DIR:-/var/tmp/fileserver-bench}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECRET=bench-secret-0123456789abcdef0123456789
TICKS=$(getconf CLK_TCK)
PIDS=()

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() { # port
	for _ in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
		sleep 0.1
	done
	echo "nothing answers on port $1" >&2
	return 1
}

cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}

# prepare_get_bench -> a fresh BENCH_DIR with nginx installed, fileserver built and the
# payloads: $big (SIZE_MIB MiB) and $small (4 KiB), both random.
prepare_get_bench() {
	"$ROOT/bench/setup.sh"
	rm -rf "$BENCH_DIR" && mkdir -p "$BENCH_DIR"
	build_fileserver
	big=$BENCH_DIR/big.bin small=$BENCH_DIR/small.bin
	head -c $((SIZE_MIB << 20)) /dev/urandom >"$big"
	head -c 4096 /dev/urandom >"$small"
}

build_fileserver() {
	(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$BENCH_DIR/fileserver" ./cmd/fileserver)
}

# start_fileserver PORT DATA [extra toml for [streaming]] -> sets FS_PID. FS_BIN runs another
# binary (e.g. an older build to compare with); FS_EXTRA_DOWNLOAD adds [download] lines;
# FS_ARGS are extra serve flags (e.g. "--set storage.fsync=false").
start_fileserver() {
	local port=$1 data=$2 streaming=${3:-}
	mkdir -p "$data"
	cat >"$BENCH_DIR/fileserver-$port.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
[storage]
path = "$data"
[auth]
secret = "$SECRET"
[upload]
max_size = "4GiB"
[log]
level = "${FS_LOG_LEVEL:-info}"
format = "json"
[streaming]
$streaming
[download]
${FS_EXTRA_DOWNLOAD:-}
TOML
	# shellcheck disable=SC2086
	"${FS_BIN:-$BENCH_DIR/fileserver}" serve --config "$BENCH_DIR/fileserver-$port.toml" ${FS_ARGS:-} 2>>"$BENCH_DIR/fileserver.log" &
	FS_PID=$!
	PIDS+=("$FS_PID")
	wait_port "$port"
}

# start_nginx PORT ROOTDIR -> sets NGINX_PID (the master; workers are its children).
# NGINX_ACCESS_LOG: on (the default: a line per request, written at once, as Debian's
# configuration has it), buffered (64 KiB buffer, flushed every second) or off.
start_nginx() {
	local port=$1 root=$2 d=$BENCH_DIR/nginx-$1 access_log
	case ${NGINX_ACCESS_LOG:-on} in
	off) access_log="access_log off;" ;;
	buffered) access_log="access_log $d/access.log combined buffer=64k flush=1s;" ;;
	*) access_log="access_log $d/access.log;" ;;
	esac
	mkdir -p "$d/tmp" "$root/upload"
	cat >"$d/nginx.conf" <<CONF
user root;
worker_processes auto;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
	$access_log
	sendfile on;
	tcp_nopush on;
	keepalive_requests 100000;
	client_max_body_size 0;
	client_body_temp_path $d/tmp;
	default_type application/octet-stream;
	server {
		listen 127.0.0.1:$port;
		root $root;
		location /upload/ {
			dav_methods PUT;
			create_full_put_path on;
		}
	}
}
CONF
	nginx -c "$d/nginx.conf" -p "$d" -g 'daemon off;' &
	NGINX_PID=$!
	PIDS+=("$NGINX_PID")
	wait_port "$port"
}

# cpu_ticks PID... -> user+system clock ticks of the processes and their children threads
cpu_ticks() {
	local sum=0 p
	for p in "$@"; do
		[ -r "/proc/$p/stat" ] || continue
		# Fields 14 and 15 after the command (which may hold spaces) are utime and stime.
		sum=$((sum + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
	done
	echo "$sum"
}

nginx_pids() { echo "$NGINX_PID $(pgrep -P "$NGINX_PID" | tr '\n' ' ')"; }

# peak_rss_kib PID... -> sum of VmHWM (peak resident set) in KiB
peak_rss_kib() {
	local sum=0 p v
	for p in "$@"; do
		v=$(awk '/^VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

# warm FILE... -> reads the files through the page cache. Some machines reclaim page cache
# that sat unused for a minute (this project's VMs run DAMON's proactive pageout), so a file
# served in one round may have to come from the disk again in the next: reading each
# server's copy just before it is measured gives both servers the same start.
warm() { cat "$@" >/dev/null; }

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

sign_v1() { # path size
	printf '%s' "$1 $2" | openssl dgst -sha256 -hmac "$SECRET" | awk '{print $NF}'
}
