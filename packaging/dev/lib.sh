# Shared by build-mediamtx.sh and build-minio.sh (sourced, not run): a dev binary built
# from the Go module proxy, cached outside the repo as $NVR_DEV_CACHE/bin/NAME-VERSION.
# build-rootfs.sh and build-vm-image.sh do not source it: their cache key is a hash of
# their own text, so a change here would rebuild every tree and image.

# cached_binary NAME VERSION: sets CACHE and OUT (the binary's path); when OUT is already
# built, says where and exits the script.
cached_binary() {
    CACHE="${NVR_DEV_CACHE:-$HOME/.cache/nvr-dev}"
    OUT="$CACHE/bin/$1-$2"
    if [[ -x "$OUT" ]]; then
        echo "$1 $2: cached at $OUT"
        exit 0
    fi
}

# require TOOL WHY: exits with an error unless TOOL is on PATH.
require() {
    command -v "$1" >/dev/null || { echo "error: $1 is required to $2" >&2; exit 1; }
}
