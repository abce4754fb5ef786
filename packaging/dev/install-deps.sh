#!/usr/bin/env bash
# Install the Debian packages that development, tests and the demo need.
# Idempotent: packages already installed cost one dpkg-query each and no network.
set -euo pipefail

PACKAGES=(
    ffmpeg              # recorder, validator probes and the simulated cameras
    fonts-dejavu-core   # the burnt-in clock of the simulated cameras (drawtext)
    mosquitto           # the real MQTT broker of the uplink tests
    syslog-ng-core      # the real log pipeline tests
    smartmontools       # smartctl -j for disk health
    prometheus          # promtool, to check our /metrics output
    sqlite3             # the technician's view into the state file
    e2fsprogs           # mkfs.ext4 for the small loop-mounted disks of the janitor tests
    mount               # losetup and mount for those disks
    iproute2            # ip: the camera discovery test's own network namespace (lo, multicast route)
    util-linux          # unshare --net for that namespace
    logrotate           # checks our logrotate config
    openssl             # test certificates (TLS to head office and the log collector)
    chromium            # headless browser that opens nvr-health's status page in tests
    chromium-driver     # WebDriver for it: the playback tests drive hls.js (play, seek)
    wrk                 # HTTP load generator of the nvr-health benchmark
    lintian             # checks the .deb built by `make deb`
    supervisor          # supervisord: the container deployment's process manager
    dpkg-dev            # dpkg-architecture and friends for the .deb build
    python3-venv        # the .deb build creates a throwaway venv to check the wheelhouse
    faketime            # libfaketime: the clock-step tests make nvr-backup and ffmpeg see a jumping clock
    gcc                 # builds the small clock_nanosleep fix preloaded with libfaketime
    libc6-dev           # its headers
    libssl-dev          # ffmpeg-rec (packaging/dev/build-ffmpeg-rec.sh): TLS for rtsps:// cameras
    pkg-config          # ffmpeg-rec: configure finds OpenSSL through it
    xz-utils            # ffmpeg-rec: the Debian source tarball
    mmdebstrap          # Debian 12 trees: appliance tests (build-rootfs.sh), power-cut VM (build-vm-image.sh)
    systemd-container   # systemd-nspawn boots that tree with systemd as PID 1 (tests/appliance)
    podman              # builds and runs the container image (packaging/container)
    runc                # podman's OCI runtime here: crun refuses hybrid cgroups
    qemu-system-x86     # boots the power-cut guest; SIGKILL to qemu is the power cut
    postgresql          # head office at fleet scale: tests start their own server (initdb into a temp dir)
    opencv-doc          # its samples/data (real CCTV footage, photographs): the blind4 picture set (labelled_footage.py)
)

missing=()
for pkg in "${PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
    [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if (( ${#missing[@]} == 0 )); then
    echo "apt packages: all ${#PACKAGES[@]} present"
    exit 0
fi
if [[ $EUID -ne 0 ]]; then
    echo "error: missing apt packages (${missing[*]}); run as root or install them" >&2
    exit 1
fi
echo "apt packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the daemons it installs; the tests start their own on loopback ports.
for svc in mosquitto syslog-ng prometheus postgresql; do
    if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
        systemctl stop "$svc" || true
    fi
done
