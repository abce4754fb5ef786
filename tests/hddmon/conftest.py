"""A real small filesystem per test: a loop-mounted ext4 image, always unmounted."""

from nvrtest.recordings import recordings, small_fs

__all__ = ["recordings", "small_fs"]
