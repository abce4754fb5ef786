"""The fleet smoke test's receiver database, on either engine (nvrtest.headoffice)."""

from nvrtest.headoffice import headoffice_database, headoffice_engine

__all__ = ["headoffice_database", "headoffice_engine"]
