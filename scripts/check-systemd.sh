#!/usr/bin/env bash
# Checks deploy/systemd/fileserver.service: systemd-analyze verify must be clean, the
# offline security exposure at most 2.0, and its ExecStart must serve uploads signed with the
# secret it hands over as a credential (see the end). The unit's ExecStart points at the
# freshly built binary in a temporary copy, since verify insists that the executable exists.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v systemd-analyze >/dev/null 2>&1; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/fileserver" ./cmd/fileserver
sed "s|/usr/local/bin/fileserver|$tmp/fileserver|" deploy/systemd/fileserver.service > "$tmp/fileserver.service"
out=$(systemd-analyze verify "$tmp/fileserver.service" 2>&1 || true)
# Lines about other units on this machine are not ours.
ours=$(printf '%s\n' "$out" | grep -i 'fileserver' || true)
if [ -n "$ours" ]; then
	echo "systemd-analyze verify:"; echo "$ours"; exit 1
fi
score=$(systemd-analyze security --offline=true "$tmp/fileserver.service" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
echo "systemd exposure: $score"
awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }' || { echo "exposure $score is above 2.0"; exit 1; }

# The unit's ExecStart, run as it would be: its Environment= lines, %d its credentials
# directory holding what its LoadCredential= lines name, an unprivileged user. The secret the
# unit hands the server must be the one signatures are checked against (a 201 for a URL
# signed with it, and no generated secret), and a config file must override the unit's
# defaults (here: the data directory).
[ "$(id -u)" -eq 0 ] || { echo "the unit's ExecStart check needs root (to run it as nobody)"; exit 1; }
creds="$tmp/credentials" data="$tmp/data"
mkdir -p "$creds" "$data"
secret="unit-secret-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
env_args=()
while IFS= read -r line; do
	env_args+=("${line//%d/$creds}")
done < <(sed -n 's/^Environment=//p' deploy/systemd/fileserver.service)
while IFS= read -r cred; do
	printf '%s\n' "$secret" > "$creds/${cred%%:*}"
done < <(sed -n 's/^LoadCredential=//p' deploy/systemd/fileserver.service)
chmod 0755 "$tmp" && chmod 0444 "$creds"/* && chown 65534:65534 "$data"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf '[server]\nlisten = "127.0.0.1:%s"\n[storage]\npath = "%s"\n' "$port" "$data" > "$tmp/config.toml"
exec_start=$(sed -n 's/^ExecStart=//p' deploy/systemd/fileserver.service)
exec_start=${exec_start//\/usr\/local\/bin\/fileserver/$tmp\/fileserver}
exec_start=${exec_start//\/etc\/fileserver\/config.toml/$tmp\/config.toml}
# shellcheck disable=SC2086
env -i PATH=/usr/bin:/bin "${env_args[@]}" setpriv --reuid=65534 --regid=65534 --clear-groups $exec_start 2>"$tmp/server.log" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
url=$("$tmp/fileserver" sign --secret "$secret" --base "http://127.0.0.1:$port" --protocol v1 --path unit.txt --size 5)
printf 'hello' > "$tmp/unit.txt"
code=$(curl -s -o /dev/null -w '%{http_code}' -T "$tmp/unit.txt" "$url")
if [ "$code" != 201 ] || [ -e "$data/.secret" ]; then
	echo "the unit's ExecStart with its credentials: PUT signed with the credential's secret got $code" \
		"(generated secret: $([ -e "$data/.secret" ] && echo yes || echo no)); server log:"
	cat "$tmp/server.log"
	exit 1
fi
echo "unit ExecStart: the credential's secret verifies uploads; the config file's storage.path wins"
