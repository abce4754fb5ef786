#!/usr/bin/env bash
# Build ffmpeg-rec: Debian's own ffmpeg source, configured for recording only (RTSP in,
# segment/MP4/MPEG-TS/tee/RTSP out, H.264/H.265 and camera audio), its libraries linked
# in statically. Why: Debian's ffmpeg loads 222 shared libraries whose relocated data is
# private to each process, 12.5 MB per recording child; this one holds about 4.2 MB
# (docs/design/recording.md, Numbers). Same version, same source, same argv.
# The source comes from Debian's archive through apt (signed Release, hashed files), with
# a source list of our own so the machine's apt configuration is left as it is. Cached
# under $NVR_DEV_CACHE/bin/ffmpeg-rec-<version>-<script hash>, with the stable name ffmpeg-rec pointing
# at the build of the installed version; a second run returns at once.
set -euo pipefail

CACHE="${NVR_DEV_CACHE:-$HOME/.cache/nvr-dev}"
# The installed ffmpeg's version: the recorder and the rest of the box stay in step.
VERSION="$(dpkg-query -W -f='${source:Upstream-Version}' ffmpeg)"
# The script's hash in the name: a changed configure list is a new build.
OUT="$CACHE/bin/ffmpeg-rec-$VERSION-$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-8)"
LINK="$CACHE/bin/ffmpeg-rec"

if [[ -x "$OUT" ]]; then
    ln -sfn "$(basename "$OUT")" "$LINK"
    echo "ffmpeg-rec $VERSION: cached at $OUT"
    exit 0
fi
for tool in gcc make xz apt-get; do
    command -v "$tool" >/dev/null || { echo "error: $tool is required to build ffmpeg-rec" >&2; exit 1; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/apt/lists/partial" "$work/src"
# The suites the installed ffmpeg can come from (security updates first).
for suite in bookworm-security bookworm; do
    case "$suite" in
        *-security) uri=http://deb.debian.org/debian-security ;;
        *) uri=http://deb.debian.org/debian ;;
    esac
    cat >>"$work/apt/sources.sources" <<EOF
Types: deb-src
URIs: $uri
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

EOF
done
apt_opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$work/apt"
    -o "Dir::State::Lists=$work/apt/lists" -o APT::Sandbox::User=root)
apt-get "${apt_opts[@]}" -qq update
(cd "$work/src" && apt-get "${apt_opts[@]}" -qq source --download-only "ffmpeg=$(dpkg-query -W -f='${Version}' ffmpeg)")
tar -C "$work/src" -xf "$work/src/ffmpeg_$VERSION.orig.tar.xz"

# What a camera sends and what the recorder writes (segments; for a single-session camera
# also the tee and fifo muxers that publish live view to mediamtx); nothing else (no devices, filters
# beyond audio resampling, or external codec libraries). Decoders are there for stream
# detection (sizes, sample rates) and for transcoding refused audio to AAC. TLS through
# Debian's OpenSSL for rtsps:// cameras.
cd "$work/src/ffmpeg-$VERSION"
./configure --disable-everything --disable-autodetect --disable-doc --disable-debug \
    --disable-x86asm --enable-static --disable-shared --disable-ffplay --disable-ffprobe \
    --disable-avdevice --disable-postproc --disable-swscale --enable-openssl --enable-version3 \
    --enable-protocol=tcp,udp,rtp,file,pipe,tls \
    --enable-demuxer=rtsp,rtp,sdp \
    --enable-muxer=segment,mp4,mpegts,tee,fifo,rtsp,rtp \
    --enable-parser=h264,hevc,aac,aac_latm,mpegaudio,opus,mjpeg,g729 \
    --enable-bsf=h264_mp4toannexb,hevc_mp4toannexb,aac_adtstoasc,extract_extradata \
    --enable-decoder=h264,hevc,mjpeg,aac,aac_latm,mp3float,opus,pcm_alaw,pcm_mulaw,pcm_s16be,pcm_s16le,adpcm_g726,adpcm_g726le,adpcm_g722,g729 \
    --enable-encoder=aac \
    --enable-filter=aresample,aformat,anull,null,format >"$work/configure.log" \
    || { tail -20 "$work/configure.log" >&2; exit 1; }
make -j"$(nproc)" ffmpeg >"$work/make.log" 2>&1 || { tail -30 "$work/make.log" >&2; exit 1; }
mkdir -p "$CACHE/bin"
install -m 0755 ffmpeg "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
ln -sfn "$(basename "$OUT")" "$LINK"
echo "ffmpeg-rec $VERSION: built at $OUT"
