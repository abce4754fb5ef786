"""nvr-hddmon: keeps the recordings disk healthy (retention, watermarks, reconcile, SMART).

See docs/design/disk.md for the invariants the modules here point back to.
"""
