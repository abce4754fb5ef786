"""nvr-hse: the interface the central HSE backend registers this box by (docs/design/hse.md)."""
