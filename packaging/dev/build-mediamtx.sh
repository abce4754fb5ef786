#!/usr/bin/env bash
# Build mediamtx for development and tests from the Go module proxy.
# No registry reachable from our build machines ships a mediamtx binary; production boxes
# install the upstream release instead. The result is cached outside the repo, so a second
# run returns at once.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
VERSION="${MEDIAMTX_VERSION:-v1.20.1}"
HLSJS_VERSION="${HLSJS_VERSION:-1.7.0}"

cached_binary mediamtx "$VERSION"
require go "build mediamtx"
require npm "fetch hls.js for mediamtx"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

moddir="$(go mod download -json "github.com/bluenviron/mediamtx@$VERSION" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
cp -r "$moddir" "$work/src"
chmod -R u+w "$work/src"
echo "$VERSION" > "$work/src/internal/core/VERSION"

# mediamtx's go:generate step downloads exactly this file; fetch it from npm instead.
(cd "$work" && npm pack --silent "hls.js@$HLSJS_VERSION" >/dev/null && tar xzf hls.js-*.tgz)
cp "$work/package/dist/hls.min.js" "$work/src/internal/servers/hls/hls.min.js"

mkdir -p "$CACHE/bin"
(cd "$work/src" && CGO_ENABLED=0 go build -o "$OUT.tmp" .)
mv "$OUT.tmp" "$OUT"
echo "mediamtx $VERSION: built at $OUT"
