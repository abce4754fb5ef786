"""The shared table contracts: one module per table family of the state file.

Any daemon may read these tables or append to them through these modules (outbox, uploads,
offsite, protections, recordings, events, export); the schema itself is nvr.core.state.
"""
