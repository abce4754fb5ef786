"""nvr-uplink: delivers the outbox to head office and the central HSE API.

See docs/design/outbox.md.
"""
