#!/usr/bin/env bash
# Build the MinIO server for tests and the demo from the Go module proxy.
# No registry reachable from our build machines ships a MinIO binary; the appliance only
# talks to the central MinIO cluster, so this build is never shipped. MinIO publishes no
# semver tags: the version is the module proxy's pseudo-version of a pinned commit. The
# result is cached outside the repo, so a second run returns at once.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"

cached_binary minio "$VERSION"
require go "build minio"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "minio $VERSION: building from the Go module proxy (a few minutes the first time)"
GOBIN="$work" CGO_ENABLED=0 go install "github.com/minio/minio@$VERSION"
mkdir -p "$CACHE/bin"
mv "$work/minio" "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "minio $VERSION: built at $OUT"
