#!/bin/sh
# Installs what the benchmarks need: nginx-extras (WebDAV PUT), wrk, strace, curl and time.
# A policy-rc.d that exits 101 keeps the packaged nginx service from starting on port 80:
# the benchmarks run their own nginx with their own configuration on a free loopback port.
set -eu
need=""
command -v nginx >/dev/null 2>&1 || need="$need nginx-extras"
command -v wrk >/dev/null 2>&1 || need="$need wrk"
command -v strace >/dev/null 2>&1 || need="$need strace"
command -v curl >/dev/null 2>&1 || need="$need curl"
[ -x /usr/bin/time ] || need="$need time"
[ -z "$need" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
policy=/usr/sbin/policy-rc.d
created=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
	$SUDO chmod 755 "$policy"
	created=1
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need
[ "$created" = 1 ] && $SUDO rm -f "$policy"
exit 0
