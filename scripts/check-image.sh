#!/usr/bin/env bash
# Checks the container image without a Docker engine: builds the filesystem the Dockerfile's
# final stage has (the binary its build stage makes with scripts/build.sh, /data owned by
# 65532) and runs it as the image would: as user 65532, on a read-only root, /data a writable
# volume, with the image's environment, ENTRYPOINT and CMD; then the HEALTHCHECK command must
# pass and an upload must land in /data. A config file passed with FILESERVER_CONFIG must
# override the image's defaults. Needs root (a mount namespace, chroot).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "check-image.sh needs root"; exit 1; }
tmp=$(mktemp -d)
# Each background job gets its own process group (set -m), so stopping the server stops the
# whole chain that runs it (subshell, unshare, its forked child, the server) by the group.
set -m
pid=""
stop() { [ -z "$pid" ] || { kill -- -"$pid"; wait "$pid"; } 2>/dev/null || true; pid=""; }
trap 'stop; umount -R "$tmp/root" 2>/dev/null || true; rm -rf "$tmp"' EXIT
root=$tmp/root
CHROOT=$(command -v chroot)

# The final stage, as the Dockerfile says it: what it copies from the build stage, and where.
final=$(awk '/^FROM /{n++} n==2' Dockerfile)
grep -q 'COPY --from=build /out/fileserver /usr/local/bin/fileserver' <<<"$final"
grep -q 'COPY --from=build --chown=65532:65532 /out/data /data' <<<"$final"
grep -q 'RUN VERSION=${VERSION} REVISION=${REVISION} ./scripts/build.sh /out/fileserver' Dockerfile
mkdir -p "$root/usr/local/bin" "$root/data" "$root/etc/fileserver" "$tmp/volume"
VERSION=image-check REVISION=0000 ./scripts/build.sh "$root/usr/local/bin/fileserver"
chown 65532:65532 "$tmp/volume"
user=$(sed -n 's/^USER //p' <<<"$final")
[ "$user" = 65532:65532 ] || { echo "USER is $user, want 65532:65532"; exit 1; }
# ENV, continued lines joined: KEY=VALUE pairs.
envs=$(sed -n '/^ENV /,/[^\\]$/p' <<<"$final" | sed 's/^ENV //; s/\\$//' | tr -s ' \n' '\n' | grep =)
json() { sed -n "s/^$1 .*\[\(.*\)\].*/\1/p" <<<"$final" | tr -d '",'; }
entrypoint=$(json ENTRYPOINT) cmd=$(json CMD) health=$(sed -n 's/^HEALTHCHECK .*CMD \[\(.*\)\]/\1/p' <<<"$final" | tr -d '",')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# in_image CMD... runs CMD in the image's filesystem, as its user, root read-only, /data the
# volume, with the image's environment plus the docker run -e ones given in RUN_ENV.
in_image() {
	# shellcheck disable=SC2086
	unshare --mount --fork sh -c '
		mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && mount --bind "$2" "$1/data" && shift 2 && exec "$@"
	' sh "$root" "$tmp/volume" env -i $envs ${RUN_ENV:-} "$CHROOT" --userspec=65532:65532 "$root" "$@"
}

# start_image LOG starts the image's ENTRYPOINT and CMD (pid in $pid, stderr in LOG) and
# waits until its HEALTHCHECK command passes; it fails, showing LOG, if that never happens.
start_image() {
	# shellcheck disable=SC2086
	in_image $entrypoint $cmd 2>"$1" &
	pid=$!
	for _ in $(seq 100); do
		# shellcheck disable=SC2086
		if in_image $health 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "the HEALTHCHECK command never passed; server log:"
	cat "$1"
	exit 1
}

RUN_ENV="FILESERVER_SERVER_LISTEN=127.0.0.1:$port FILESERVER_AUTH_SECRET=image-check-secret-0123456789abcdef"
start_image "$tmp/server.log"
url=$("$root/usr/local/bin/fileserver" sign --secret image-check-secret-0123456789abcdef \
	--base "http://127.0.0.1:$port" --protocol v1 --path img.txt --size 5)
printf 'hello' > "$tmp/img.txt"
code=$(curl -s -o /dev/null -w '%{http_code}' -T "$tmp/img.txt" "$url")
[ "$code" = 201 ] && [ "$(cat "$tmp/volume/files/img.txt")" = hello ] ||
	{ echo "upload into the image: $code; server log:"; cat "$tmp/server.log"; exit 1; }
stop

# A mounted config file overrides the image's defaults (its listen address here).
port2=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf '[server]\nlisten = "127.0.0.1:%s"\n' "$port2" > "$root/etc/fileserver/config.toml"
RUN_ENV="FILESERVER_CONFIG=/etc/fileserver/config.toml FILESERVER_AUTH_SECRET=image-check-secret-0123456789abcdef"
start_image "$tmp/server2.log"
curl -sf "http://127.0.0.1:$port2/healthz" >/dev/null ||
	{ echo "with a config file: not serving on its listen address; log:"; cat "$tmp/server2.log"; exit 1; }
echo "image: runs as 65532 on a read-only root, HEALTHCHECK passes, uploads land in /data; a config file overrides the image's defaults"
