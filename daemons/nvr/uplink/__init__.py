"""nvr-uplink: everything that leaves the box, one sub-package per service.

- delivery: the outbox to head office and the central HSE API (docs/design/outbox.md);
- objects: MinIO uploads (alarm images, clips) and offsite copy (docs/design/objects.md);
- mqtt: presence, status and commands on the centre's broker (docs/design/commands.md).

daemon.py runs them; the table contracts they read (outbox, uploads, offsite) are
nvr.core.tables, the files of this package are nvr-uplink's side of them.
"""
