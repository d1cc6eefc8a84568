#!/bin/sh
# Installs what the end-to-end suite (go test -tags e2e ./e2e/) and the tests that need real
# peers (internal/testpeers) need on Debian 12:
# Prosody 0.12 with the community modules, slixmpp and aiohttp for Debian's
# /usr/bin/python3, go-sendxmpp, openssl, curl, Prometheus, redis-server (the tests start
# their own on free ports), HAProxy (the scale-out example's config is checked), Node.js (only when no node is on
# the PATH), Debian's chromium and clamav-daemon (the tests start their own clamd), the pinned tus-js-client in e2e/tusjs and playwright-core in
# e2e/dashboard (`npm ci` from their package-lock.json when their node_modules is missing), and versitygw v1.8.0 (an S3
# server, `go install` into $(go env GOPATH)/bin when missing). Idempotent: installs
# only what is missing and does nothing when all is there. Run as root (or with sudo).
#
# The packaged Prosody service must not start on the standard ports during the
# install (the suite runs its own instances on free ports): a policy-rc.d that
# exits 101 forbids service starts; it is put in place only if none exists and
# removed again afterwards.
set -eu

PACKAGES="prosody prosody-modules python3-slixmpp python3-aiohttp go-sendxmpp openssl curl prometheus redis-server haproxy chromium clamav-daemon"

here=$(cd "$(dirname "$0")" && pwd)

# tus-js-client for resumable_test.go (TestTusJSClientResume) and playwright-core for
# admin_test.go (TestDashboardInChromium): exactly what their package-lock.json pin.
npm_ci() {
	npm_ci_in tusjs tus-js-client
	npm_ci_in dashboard playwright-core
}

# npm_ci_in DIR PACKAGE: `npm ci` in e2e/DIR unless its node_modules holds PACKAGE.
npm_ci_in() {
	if [ -d "$here/$1/node_modules/$2" ]; then
		echo "install-deps: $2 present in $here/$1/node_modules"
		return 0
	fi
	echo "install-deps: npm ci in $here/$1"
	(cd "$here/$1" && npm ci --no-audit --no-fund)
}

# versitygw (Apache-2.0 S3 server) for s3_test.go: built with the Go toolchain into
# $(go env GOPATH)/bin, where the suite looks for it. Done first, as the invoking user (before
# any sudo below), so that it lands in the GOPATH of whoever runs the tests. 2-3 min cold.
versitygw_install() {
	if [ -n "${INSTALL_DEPS_AS_ROOT:-}" ]; then
		return 0 # done by the invoking user before sudo
	fi
	if ! command -v go >/dev/null 2>&1; then
		echo "install-deps: no go on the PATH: cannot install versitygw (needed by s3_test.go)" >&2
		return 1
	fi
	bin="$(go env GOPATH | cut -d: -f1)/bin/versitygw"
	if [ -x "$bin" ]; then
		echo "install-deps: versitygw present at $bin"
		return 0
	fi
	echo "install-deps: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"
	go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
}
versitygw_install

missing=""
for pkg in $PACKAGES; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
	[ "$status" = "installed" ] || missing="$missing $pkg"
done
# Node.js may come from elsewhere (e.g. a nodejs package that bundles npm): install
# Debian's only when there is none.
if ! command -v node >/dev/null 2>&1; then
	missing="$missing nodejs"
fi
if ! command -v npm >/dev/null 2>&1; then
	missing="$missing npm"
fi

if [ -z "$missing" ]; then
	echo "install-deps: all present:$(printf ' %s' $PACKAGES) node npm"
	npm_ci
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		exec sudo -- env INSTALL_DEPS_AS_ROOT=1 "$0" "$@"
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
npm_ci
echo "install-deps: done"

# Prometheus: TestPrometheusDashboard starts its own instance on a free loopback port with its
# own config and storage. The packaged service (port 9090, /var/lib/prometheus) is not
# needed; if it started despite the policy-rc.d, stop it.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
	systemctl stop prometheus && echo "install-deps: stopped the packaged prometheus service"
elif [ -x /etc/init.d/prometheus ] && pgrep -u prometheus -x prometheus >/dev/null 2>&1; then
	/etc/init.d/prometheus stop && echo "install-deps: stopped the packaged prometheus service"
fi
