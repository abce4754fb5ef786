"""The evidence tests use the head-office receiver fixtures (a real nvr-headoffice)."""

from headoffice.conftest import start_headoffice

__all__ = ["start_headoffice"]
