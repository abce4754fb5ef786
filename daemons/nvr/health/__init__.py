"""nvr-health: /health for the NOC, /metrics for Prometheus, a status page for technicians.

See docs/design/health.md.
"""
