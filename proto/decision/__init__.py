"""Stubs for the `vaultguard.decision` protobuf packages."""
