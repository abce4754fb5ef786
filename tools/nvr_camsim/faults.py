"""The faults a simulated camera can show, as a user of the NVR would see them."""

from __future__ import annotations

from enum import StrEnum


class Fault(StrEnum):
    """A fault injected into one simulated camera."""

    OFFLINE = "offline"  # publisher stopped: readers get 404 Not Found
    BLACK = "black"  # black picture, the OSD clock still burnt in
    FROZEN = "frozen"  # one still frame, the OSD clock still running
    BLURRED = "blurred"  # strong blur (defocus, dirty lens), OSD still sharp
    DARK = "dark"  # very low brightness but not black
    WRONG_RESOLUTION = "wrong_resolution"  # another frame size than configured
    WRONG_PASSWORD = "wrong_password"  # the camera's password changed: readers get 401


NO_FAULT_WORDS = frozenset({"none", "ok", "normal", "clear"})


def parse_fault(text: str) -> Fault | None:
    """Parse a fault name; "none" (or "ok", "normal", "clear") means no fault.

    Raises ValueError with a one-line message listing the valid names.
    """
    word = text.strip().lower().replace("-", "_")
    if word in NO_FAULT_WORDS:
        return None
    try:
        return Fault(word)
    except ValueError:
        choices = ", ".join(f.value for f in Fault)
        raise ValueError(f"unknown fault {text!r} (choose from {choices} or none)") from None
