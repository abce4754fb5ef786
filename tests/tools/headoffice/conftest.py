"""Fixtures of the nvr-headoffice tests: a receiver process, stopped (and checked) at the end."""

from nvrtest.headoffice import headoffice, start_headoffice

__all__ = ["headoffice", "start_headoffice"]
