"""`nvrctl protect` runs against recordings on a real small filesystem, as nvr-hddmon's do."""

from nvrtest.recordings import recordings, small_fs

__all__ = ["recordings", "small_fs"]
