"""Delivery of the outbox to head office and the HSE API: one worker thread per destination.

See docs/design/outbox.md.
"""
