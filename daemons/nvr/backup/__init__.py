"""nvr-backup: records every camera with ffmpeg into indexed, crash-safe segments."""
