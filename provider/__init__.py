"""vaultguard Terraform provider."""
