"""nvr-validator: checks that every camera's stream is reachable, as configured and usable.

See docs/design/validation.md.
"""
