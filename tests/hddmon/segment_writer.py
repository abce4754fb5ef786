"""Stand-in for nvr-backup in the tests: writes segments and their rows as fast as asked.

    segment_writer.py STATE_FILE RECORDINGS SECONDS INTERVAL BYTES RESULT_JSON

Each segment: write + fsync the file, fsync its folder, then insert the row through
StateStore.write(), the order nvr-backup uses. Every error (ENOSPC, "database is locked")
is recorded in the result instead of stopping the writer, as a recorder would carry on.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from nvr.core.errors import NvrError
from nvr.core.state import StateStore, now_ms

# Run as a script from tests/hddmon: the shared helpers are a package of tests/.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from nvrtest.recordings import add_segment


def main() -> int:
    state_file, root, seconds, interval, size, result = sys.argv[1:7]
    store = StateStore.open(state_file)
    base = now_ms() - 600_000
    written: list[str] = []
    errors: list[str] = []
    stop = threading.Event()
    deadline = time.monotonic() + float(seconds)
    index = 0
    while time.monotonic() < deadline:
        for camera in ("cam01", "cam02"):
            try:
                written.append(
                    add_segment(store, Path(root), camera, base + index * 1000, int(size))
                )
            except (OSError, NvrError) as err:
                errors.append(f"{type(err).__name__}: {err}")
        index += 1
        stop.wait(float(interval))
    Path(result).write_text(json.dumps({"written": written, "errors": errors}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
