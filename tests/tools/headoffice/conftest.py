"""Fixtures of the nvr-headoffice tests: a receiver process, stopped (and checked) at the end."""

from nvrtest.headoffice import (
    headoffice,
    headoffice_database,
    headoffice_engine,
    start_headoffice,
)

__all__ = ["headoffice", "headoffice_database", "headoffice_engine", "start_headoffice"]
