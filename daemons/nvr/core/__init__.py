"""The shared core every daemon builds on: config, state store, service runtime, logging."""
