"""The evidence tests use the head-office receiver fixtures (a real nvr-headoffice)."""

from nvrtest.headoffice import start_headoffice

__all__ = ["start_headoffice"]
