"""`make demo` and the end-to-end tests: the whole suite on simulated cameras (supervisord)."""
