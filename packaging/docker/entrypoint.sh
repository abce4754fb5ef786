#!/bin/sh
# Container entrypoint: prepare the volumes, refuse a broken config, run supervisord.
set -eu

config="${NVR_CONFIG:-/etc/nvr/nvr.yaml}"

# Volumes arrive owned by whoever created them: the daemons run as nvr.
install -d -o nvr -g nvr -m 0750 /var/lib/nvr /srv/nvr/recordings

# The same check as `nvrctl config check` on a box: a typo fails the container at once
# with the error, instead of seven daemons restarting in a loop.
/opt/nvr/venv/bin/nvrctl config check --config "$config"

if [ "$#" -gt 0 ]; then
    exec "$@"  # e.g. `docker run ... nvr nvrctl status`
fi
exec /usr/bin/supervisord -n -c /etc/supervisor/supervisord.conf
