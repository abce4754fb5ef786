#!/usr/bin/env bash
# Build the nvr .deb with plain dpkg-deb: `bash packaging/deb/build.sh OUTDIR` (or `make deb`).
#
# The package ships the Python code as wheels (/opt/nvr/wheels: nvr and its pinned
# dependencies) and postinst builds /opt/nvr/venv from them offline with the target's own
# /usr/bin/python3 (make-venv.sh). A virtualenv embeds its absolute path, so one built
# here in a staging directory would not run from /opt/nvr/venv without rewriting files.
# Dependency wheels are cached in $NVR_DEV_CACHE/wheels/<hash of pyproject.toml>.
# The recorder binary, /usr/lib/nvr/ffmpeg-rec, is the one `make ffmpeg-rec` built
# (NVR_FFMPEG_REC_BIN, as the Makefile exports it, or the dev cache's ffmpeg-rec).
set -euo pipefail

OUT="${1:?usage: build.sh OUTDIR}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$REPO/packaging/deb"
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"
CACHE="${NVR_DEV_CACHE:-$HOME/.cache/nvr-dev}"
# The recording-only ffmpeg nvr-backup runs (`make ffmpeg-rec`, packaging/dev/build-ffmpeg-rec.sh).
FFMPEG_REC="${NVR_FFMPEG_REC_BIN:-$CACHE/bin/ffmpeg-rec}"
export PIP_DISABLE_PIP_VERSION_CHECK=1

VERSION="$("$PYTHON" -c 'import tomllib; print(tomllib.load(open("'"$REPO"'/pyproject.toml", "rb"))["project"]["version"])')"
# NVR_DEB_REVISION: a newer build of the same code (the upgrade tests install one over another).
DEB_VERSION="$VERSION-${NVR_DEB_REVISION:-1}"
ARCH="$(dpkg --print-architecture)"
[[ -x "$FFMPEG_REC" ]] || { echo "error: $FFMPEG_REC is not built: run \`make ffmpeg-rec\`" >&2; exit 1; }
# ffmpeg-rec is built from the source of the installed ffmpeg (its copyright entry names it).
FFMPEG_SOURCE_VERSION="$(dpkg-query -W -f='${Version}' ffmpeg)"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
ROOT="$WORK/root"

# Wheels: the dependencies (cached per pyproject.toml), then nvr itself, built from a copy
# of the source so the build leaves no build/ or egg-info behind in the checkout.
DEPS="$CACHE/wheels/$(sha256sum "$REPO/pyproject.toml" | cut -c1-16)"
SRC="$WORK/src"
mkdir -p "$SRC"
cp -r "$REPO/pyproject.toml" "$REPO/README.md" "$REPO/daemons" "$SRC/"
[[ -f "$REPO/setup.cfg" ]] && cp "$REPO/setup.cfg" "$SRC/"
find "$SRC" \( -name __pycache__ -o -name '*.egg-info' \) -prune -exec rm -rf {} +
if [[ ! -f "$DEPS/.complete" ]]; then
    rm -rf "$DEPS" && mkdir -p "$DEPS"
    "$PYTHON" -m pip wheel -q --wheel-dir "$DEPS" "$SRC"
    rm -f "$DEPS"/nvr-*.whl
    rm -rf "$SRC/build"
    touch "$DEPS/.complete"
fi
WHEELS="$ROOT/opt/nvr/wheels"
mkdir -p "$WHEELS"
cp "$DEPS"/*.whl "$WHEELS/"
"$PYTHON" -m pip wheel -q --no-deps --wheel-dir "$WHEELS" "$SRC"

install_file() {  # install_file MODE SOURCE DEST
    install -D -m "$1" "$2" "$ROOT$3"
}
for unit in "$REPO"/systemd/*.service "$REPO"/systemd/*.target; do
    install_file 0644 "$unit" "/lib/systemd/system/$(basename "$unit")"
done
install_file 0644 "$REPO/etc/nvr/nvr.yaml" /etc/nvr/nvr.yaml
# The pristine example (every key commented) the config errors point at: /etc/nvr/nvr.yaml
# is the site's own file once edited (nvr.core.config.loader.EXAMPLE_PATH).
install_file 0644 "$REPO/etc/nvr/nvr.yaml" /usr/share/doc/nvr/examples/nvr.yaml
install_file 0644 "$REPO/etc/mediamtx/mediamtx.yml" /etc/mediamtx/mediamtx.yml
install_file 0644 "$REPO/syslog-ng/conf.d/nvr.conf" /etc/syslog-ng/conf.d/nvr.conf
install_file 0644 "$REPO/syslog-ng/nvr/site.conf" /etc/syslog-ng/nvr/site.conf
install_file 0644 "$REPO/syslog-ng/headoffice.conf" /usr/share/nvr/syslog-ng/headoffice.conf
# Where the operator links the forwards to enable (conf.d/nvr.conf includes nvr/forward/*.conf).
install -d -m 0755 "$ROOT/etc/syslog-ng/nvr/forward"
install_file 0644 "$REPO/syslog-ng/logrotate.d/nvr" /etc/logrotate.d/nvr
# logrotate hourly, so the size cap in /etc/logrotate.d/nvr cuts a log storm short.
install_file 0644 "$REPO/syslog-ng/logrotate.timer.d/nvr-hourly.conf" /lib/systemd/system/logrotate.timer.d/nvr-hourly.conf
install_file 0644 "$REPO/etc/prometheus/nvr-alerts.yml" /usr/share/nvr/prometheus/nvr-alerts.yml
install_file 0644 "$HERE/make-venv.sh" /usr/share/nvr/make-venv.sh
install_file 0644 "$REPO/docs/operator-guide.md" /usr/share/doc/nvr/operator-guide.md
for doc in "$REPO"/docs/design/*.md; do
    install_file 0644 "$doc" "/usr/share/doc/nvr/design/$(basename "$doc")"
done
# nvr-backup's recorder (NVR_FFMPEG_REC_BIN in nvr-backup.service), LGPL-3+: the copyright
# file names its source (Debian's ffmpeg source package) and the script that builds it.
install_file 0755 "$(readlink -f "$FFMPEG_REC")" /usr/lib/nvr/ffmpeg-rec
install_file 0644 "$REPO/packaging/dev/build-ffmpeg-rec.sh" /usr/share/doc/nvr/ffmpeg-rec/build-ffmpeg-rec.sh
sed "s/@FFMPEG_SOURCE_VERSION@/$FFMPEG_SOURCE_VERSION/" "$HERE/copyright" > "$WORK/copyright"
install_file 0644 "$WORK/copyright" /usr/share/doc/nvr/copyright
install_file 0644 "$HERE/lintian-overrides" /usr/share/lintian/overrides/nvr
sed "s/@VERSION@/$DEB_VERSION/" "$HERE/changelog" | gzip -9n > "$WORK/changelog.Debian.gz"
install_file 0644 "$WORK/changelog.Debian.gz" /usr/share/doc/nvr/changelog.Debian.gz

mkdir -p "$ROOT/DEBIAN"
for script in postinst prerm postrm; do
    sed "s/@VERSION@/$VERSION/" "$HERE/$script" > "$ROOT/DEBIAN/$script"
    chmod 0755 "$ROOT/DEBIAN/$script"
done
(cd "$ROOT" && find etc -type f | sort | sed 's|^|/|') > "$ROOT/DEBIAN/conffiles"
# ffmpeg-rec's shared libraries (libc, OpenSSL) with the versions its symbols need: what
# dpkg-shlibdeps reads from the installed libraries' symbols files, as in any Debian build.
mkdir -p "$WORK/debian"
printf 'Source: nvr\n\nPackage: nvr\nArchitecture: any\n' > "$WORK/debian/control"
SHLIBS="$(cd "$WORK" && dpkg-shlibdeps -O root/usr/lib/nvr/ffmpeg-rec | sed -n 's/^shlibs:Depends=//p')"
[[ -n "$SHLIBS" ]] || { echo "error: dpkg-shlibdeps found no dependency of ffmpeg-rec" >&2; exit 1; }
sed -e "s/@VERSION@/$DEB_VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SHLIBS@/$SHLIBS/" \
    -e "s/@SIZE@/$(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)/" \
    "$HERE/control" > "$ROOT/DEBIAN/control"
(cd "$ROOT" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z \
    | xargs -0 md5sum) > "$ROOT/DEBIAN/md5sums"
chmod 0644 "$ROOT/DEBIAN/conffiles" "$ROOT/DEBIAN/control" "$ROOT/DEBIAN/md5sums"
find "$ROOT" -type d -exec chmod 0755 {} +

mkdir -p "$OUT"
DEB="$OUT/nvr_${DEB_VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zgzip --build "$ROOT" "$DEB" >/dev/null
echo "$DEB"
