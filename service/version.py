"""The product version, and the Vault-compatible version string clients gate on."""

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("vaultguard")
except PackageNotFoundError:  # running from a source tree without an install
    VERSION = "0.0.0"

# Clients (the hashicorp/vault provider among them) require Enterprise build metadata (DECISIONS.md#d23).
VAULT_COMPAT_VERSION = f"2.1.0+ent.vaultguard.{VERSION}"

