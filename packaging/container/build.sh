#!/usr/bin/env bash
# Build the NVR container image with podman, from Debian packages only:
#   bash packaging/container/build.sh DEB TAG
# DEB is the .deb of `make deb` (its wheels and ffmpeg-rec go into the image); TAG e.g.
# localhost/nvr:dev.
# The base is the tree of packaging/dev/rootfs/container.list (build-rootfs.sh, cached),
# imported once per tree as localhost/nvr-base:<tree hash>.
# Podman settings for this kind of machine come from the caller's environment
# (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF): see docs/design/appliance.md.
set -euo pipefail

DEB="${1:?usage: build.sh DEB TAG}"
TAG="${2:?usage: build.sh DEB TAG}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$REPO/packaging/container"
MEDIAMTX="${NVR_MEDIAMTX_BIN:?NVR_MEDIAMTX_BIN: the mediamtx binary (make mediamtx)}"

tree="$(bash "$REPO/packaging/dev/build-rootfs.sh" container)"
base="localhost/nvr-base:$(basename "$tree" | sed 's/^container-//')"
if ! podman image exists "$base"; then
    tar -C "$tree" --exclude=./.complete -c . | podman import --quiet - "$base" >/dev/null
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
dpkg-deb -x "$DEB" "$WORK/deb"
mkdir "$WORK/context"
mkdir -p "$WORK/context/wheels/deps" "$WORK/context/wheels/nvr"
mv "$WORK/deb/opt/nvr/wheels"/nvr-*.whl "$WORK/context/wheels/nvr/"
mv "$WORK/deb/opt/nvr/wheels"/*.whl "$WORK/context/wheels/deps/"
cp "$HERE/Containerfile" "$WORK/context/"
# The recorder binary and its licence files as the .deb ships them.
cp -p "$WORK/deb/usr/lib/nvr/ffmpeg-rec" "$WORK/context/ffmpeg-rec"
mkdir "$WORK/context/doc"
cp -r "$WORK/deb/usr/share/doc/nvr/copyright" "$WORK/deb/usr/share/doc/nvr/ffmpeg-rec" \
    "$WORK/context/doc/"
cp "$MEDIAMTX" "$WORK/context/mediamtx"
cp "$REPO/etc/nvr/nvr.yaml" "$REPO/etc/mediamtx/mediamtx.yml" "$WORK/context/"
# chroot isolation: RUN steps need no OCI runtime (nor cgroups) at build time.
podman build --quiet --isolation=chroot --build-arg "BASE=$base" \
    -f "$WORK/context/Containerfile" -t "$TAG" "$WORK/context" >/dev/null
echo "$TAG"
