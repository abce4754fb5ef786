"""NVR appliance: independent daemons coordinating through one SQLite state file."""

__version__ = "0.1.0"
