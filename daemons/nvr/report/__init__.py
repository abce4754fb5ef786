"""nvr-report: status, daily summary and event reports, appended to the outbox.

See docs/design/outbox.md.
"""
