#!/usr/bin/env bash
# Builds the fileserver binary the one way every build does it (make build, the container
# image, the image check): static, trimmed, stamped with a version and the VCS revision. Go's
# own stamping (-buildvcs) is off on some machines and impossible in a container build without
# .git, so the stamp is passed in: VERSION and REVISION from the environment, else from git,
# else "dev" and "unknown".
# Usage: scripts/build.sh [OUTPUT]   (default bin/fileserver)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bin/fileserver}
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
revision=${REVISION:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
CGO_ENABLED=0 go build -trimpath \
	-ldflags "-s -w -X main.version=$version -X main.revision=$revision" \
	-o "$out" ./cmd/fileserver
