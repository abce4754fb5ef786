"""The evidence tests use the head-office receiver fixtures (a real nvr-headoffice)."""

from nvrtest.headoffice import headoffice_database, headoffice_engine, start_headoffice

__all__ = ["headoffice_database", "headoffice_engine", "start_headoffice"]
