#!/usr/bin/env bash
# Checks deploy/scaleout/haproxy.cfg with haproxy -c. The config names a certificate that
# exists only on a real balancer, so a copy points at a throwaway self-signed one.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=upload.example.org \
	-keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
cat "$tmp/cert.pem" "$tmp/key.pem" > "$tmp/upload.example.org.pem"
sed "s|/etc/haproxy/certs/upload.example.org.pem|$tmp/upload.example.org.pem|" deploy/scaleout/haproxy.cfg > "$tmp/haproxy.cfg"
haproxy -c -f "$tmp/haproxy.cfg"
