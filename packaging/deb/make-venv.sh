# Build the nvr virtualenv from the shipped wheels, offline:
#   sh /usr/share/nvr/make-venv.sh VENV WHEELS VERSION
# Run by postinst with /opt/nvr/venv /opt/nvr/wheels; the daemons are stopped by then
# (prerm). A venv records its own absolute path (bin/ shebangs, pyvenv.cfg), which is why
# it is built here, on the target, at its final path, with the target's /usr/bin/python3.
set -eu
venv="$1"
wheels="$2"
version="$3"
python="${PYTHON3:-/usr/bin/python3}"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --no-index --no-cache-dir --disable-pip-version-check \
    --find-links "$wheels" "nvr==$version"
