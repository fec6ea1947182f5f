"""vaultguard authorization service."""
