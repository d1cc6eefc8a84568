#!/bin/sh
# Installs what the end-to-end suite (go test -tags e2e ./e2e/) needs on Debian 12:
# Prosody 0.12 with the community modules, slixmpp and aiohttp for Debian's
# /usr/bin/python3, go-sendxmpp, and openssl. Idempotent: installs only what is
# missing and does nothing when all is there. Run as root (or with sudo).
#
# The packaged Prosody service must not start on the standard ports during the
# install (the suite runs its own instances on free ports): a policy-rc.d that
# exits 101 forbids service starts; it is put in place only if none exists and
# removed again afterwards.
set -eu

PACKAGES="prosody prosody-modules python3-slixmpp python3-aiohttp go-sendxmpp openssl"

missing=""
for pkg in $PACKAGES; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
	[ "$status" = "installed" ] || missing="$missing $pkg"
done

if [ -z "$missing" ]; then
	echo "install-deps: all present:$(printf ' %s' $PACKAGES)"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		exec sudo -- "$0" "$@"
	fi
	echo "install-deps: missing:$missing; run this script as root" >&2
	exit 1
fi

echo "install-deps: installing:$missing"

policy=/usr/sbin/policy-rc.d
created_policy=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\n# e2e/install-deps.sh: no service starts during the install\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	created_policy=1
fi
cleanup() {
	if [ -n "$created_policy" ]; then rm -f "$policy"; fi
}
trap cleanup EXIT INT TERM

export DEBIAN_FRONTEND=noninteractive
apt_install() {
	# shellcheck disable=SC2086 # word splitting of the package list is intended
	apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-confdef \
		-o Dpkg::Options::=--force-confold $missing
}
# Try without refreshing the lists first (fast when they are recent), then
# refresh them once and retry.
if ! apt_install; then
	apt-get update
	apt_install
fi

# A packaged service that started anyway (e.g. a policy-rc.d was ignored) would
# only hold port 5222; the suite does not need it. Leave it alone but say so.
if pgrep -x lua5.4 >/dev/null 2>&1; then
	echo "install-deps: note: a Prosody (lua5.4) process is running; the suite uses its own instances on free ports"
fi
echo "install-deps: done"
