"""nvr-headoffice: the reference head-office receiver of site reports (docs/design/headoffice.md).

It runs at head office, not on the box: it uses neither nvr.yaml nor the state file, and
imports nothing of the on-site daemons.
"""
