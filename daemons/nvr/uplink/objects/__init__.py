"""MinIO: uploads of alarm images and clips, and the offsite copy of recordings.

See docs/design/objects.md.
"""
