#!/usr/bin/env bash
# Build (once) a bootable Debian 12 VM image from a package list and print its directory:
#   bash packaging/dev/build-vm-image.sh NAME [LIST]
# LIST defaults to packaging/dev/vm/NAME.list (one package a line, `#` comments). The
# directory, $NVR_DEV_CACHE/vm/NAME-<hash of the list and this script>, holds
#   rootfs.ext4   the root filesystem (sparse raw ext4, made with `mkfs.ext4 -d`: no loop
#                 mount, so it builds wherever mmdebstrap does)
#   vmlinuz, initrd.img   the guest's own kernel and initrd, for qemu's direct kernel boot
# Same shape as build-rootfs.sh (name + package list -> cached artefact); users copy
# rootfs.ext4 before booting it, never write to the cached one.
# Needs root (mmdebstrap's root mode) and a Debian mirror ($NVR_DEBIAN_MIRROR,
# $NVR_DEBIAN_SECURITY_MIRROR) at build time; the guest itself needs no network.
set -euo pipefail

NAME="${1:?usage: build-vm-image.sh NAME [LIST]}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LIST="${2:-$HERE/vm/$NAME.list}"
CACHE="${NVR_DEV_CACHE:-$HOME/.cache/nvr-dev}"
MIRROR="${NVR_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY="${NVR_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
# Room for the nvr virtualenv and a few minutes of recordings on top of the packages.
FREE_MB=1536

[[ -f "$LIST" ]] || { echo "error: package list $LIST not found" >&2; exit 1; }
packages="$(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$LIST" | grep -v '^$' | sort -u | paste -sd,)"
hash="$(cat "$LIST" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-12)"
dest="$CACHE/vm/$NAME-$hash"

if [[ -f "$dest/.complete" ]]; then
    echo "$dest"
    exit 0
fi
if [[ $EUID -ne 0 ]]; then
    echo "error: building the $NAME VM image needs root (mmdebstrap root mode)" >&2
    exit 1
fi
for tool in mmdebstrap mkfs.ext4; do
    command -v "$tool" >/dev/null || { echo "error: $tool missing (make apt)" >&2; exit 1; }
done

mkdir -p "$CACHE/vm"
# Two test sessions asking for the same image build it once.
exec 9>"$dest.lock"
flock 9
if [[ ! -f "$dest/.complete" ]]; then
    rm -rf "$dest" "$dest.tmp"
    mkdir -p "$dest.tmp"
    tree="$dest.tmp/tree"
    start=$SECONDS
    echo "vm $NAME: building with mmdebstrap (packages: $packages)" >&2
    # The guest: root on /dev/vda, a static address on qemu's user-mode network (10.0.2.2
    # is the host's loopback), networkd without waiting for it, no timers that would
    # compete with recording on an emulated CPU, serial console for the boot log.
    mmdebstrap --quiet --mode=root --variant=apt --include="$packages" \
        --aptopt='APT::Install-Recommends "false"' \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --customize-hook='echo nvr-vm > "$1/etc/hostname"' \
        --customize-hook='chroot "$1" passwd -d root >/dev/null' \
        --customize-hook='echo "/dev/vda / ext4 rw,errors=remount-ro 0 1" > "$1/etc/fstab"' \
        --customize-hook='printf "[Match]\nName=en* eth*\n[Network]\nAddress=10.0.2.15/24\nGateway=10.0.2.2\n" > "$1/etc/systemd/network/10-user.network"' \
        --customize-hook='chroot "$1" systemctl enable systemd-networkd >/dev/null 2>&1' \
        --customize-hook='chroot "$1" systemctl mask systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer man-db.timer >/dev/null 2>&1' \
        --customize-hook='rm -f "$1/etc/machine-id" && touch "$1/etc/machine-id"' \
        --customize-hook='cp -L "$1/vmlinuz" "$1/initrd.img" "$1/../"' \
        bookworm "$tree" \
        "deb $MIRROR bookworm main" \
        "deb $MIRROR bookworm-updates main" \
        "deb $SECURITY bookworm-security main" >&2
    size_mb=$(( $(du -sm "$tree" | cut -f1) + FREE_MB ))
    mkfs.ext4 -q -L nvr-root -d "$tree" "$dest.tmp/rootfs.ext4" "${size_mb}M"
    rm -rf "$tree"
    mv "$dest.tmp" "$dest"
    touch "$dest/.complete"
    echo "vm $NAME: built in $((SECONDS - start)) s: $dest" >&2
    # Older images of the same name are dead weight (each is a few hundred MB).
    find "$CACHE/vm" -maxdepth 1 -name "$NAME-*" ! -name "$NAME-$hash*" -exec rm -rf {} +
fi
echo "$dest"
