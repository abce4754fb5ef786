#!/usr/bin/env bash
# Build (once) a Debian 12 root filesystem from a package list and print its path:
#   bash packaging/dev/build-rootfs.sh NAME [LIST]
# LIST defaults to packaging/dev/rootfs/NAME.list (one package a line, `#` comments).
# The tree lands in $NVR_DEV_CACHE/rootfs/NAME-<hash of the list and this script>, so a
# changed list or script builds a new tree and an unchanged one costs a stat. Users must
# not modify it: boot it through an overlay (tests/appliance/nspawn.py) or copy it.
# Needs root (mmdebstrap's root mode is the fast one) and the network to a Debian mirror
# ($NVR_DEBIAN_MIRROR, $NVR_DEBIAN_SECURITY_MIRROR).
set -euo pipefail

NAME="${1:?usage: build-rootfs.sh NAME [LIST]}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LIST="${2:-$HERE/rootfs/$NAME.list}"
CACHE="${NVR_DEV_CACHE:-$HOME/.cache/nvr-dev}"
MIRROR="${NVR_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY="${NVR_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"

[[ -f "$LIST" ]] || { echo "error: package list $LIST not found" >&2; exit 1; }
packages="$(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$LIST" | grep -v '^$' | sort -u | paste -sd,)"
hash="$(cat "$LIST" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-12)"
dest="$CACHE/rootfs/$NAME-$hash"

if [[ -f "$dest/.complete" ]]; then
    echo "$dest"
    exit 0
fi
if [[ $EUID -ne 0 ]]; then
    echo "error: building the $NAME rootfs needs root (mmdebstrap root mode)" >&2
    exit 1
fi
command -v mmdebstrap >/dev/null || { echo "error: mmdebstrap missing (make apt)" >&2; exit 1; }

mkdir -p "$CACHE/rootfs"
# Two test sessions asking for the same tree build it once.
exec 9>"$dest.lock"
flock 9
if [[ ! -f "$dest/.complete" ]]; then
    # An interrupted mmdebstrap can leave /proc, /sys and /dev mounts in its tree: unmount
    # them before deleting, and never delete across a mount.
    { grep -o " $dest.tmp/[^ ]*" /proc/mounts || true; } | sort -r | xargs -r -n1 umount -l
    rm -rf --one-file-system "$dest" "$dest.tmp"
    start=$SECONDS
    echo "rootfs $NAME: building with mmdebstrap (packages: $packages)" >&2
    # No man pages or translations: a test tree, kept small so copies and overlays are cheap.
    # The guest's own hostname, and an empty root password for `machinectl login`-style
    # debugging (the tree never leaves this machine).
    mmdebstrap --quiet --mode=root --variant=apt --include="$packages" \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --customize-hook='echo nvr-guest > "$1/etc/hostname"' \
        --customize-hook='chroot "$1" passwd -d root >/dev/null' \
        --customize-hook='rm -f "$1/etc/machine-id" && touch "$1/etc/machine-id"' \
        bookworm "$dest.tmp" \
        "deb $MIRROR bookworm main" \
        "deb $MIRROR bookworm-updates main" \
        "deb $SECURITY bookworm-security main" >&2
    mv "$dest.tmp" "$dest"
    touch "$dest/.complete"
    echo "rootfs $NAME: built in $((SECONDS - start)) s: $dest" >&2
    # Older trees of the same name are dead weight (each is a few hundred MB).
    find "$CACHE/rootfs" -maxdepth 1 -regextype posix-extended \
        -regex ".*/$NAME-[0-9a-f]{12}(\.lock|\.tmp)?" ! -name "$NAME-$hash*" -exec rm -rf {} +
fi
echo "$dest"
