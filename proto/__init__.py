"""Generated gRPC stubs for the vaultguard decision API."""
