"""The product version, and the Vault-compatible version string clients gate on."""

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("vaultguard")
except PackageNotFoundError:  # running from a source tree without an install
    VERSION = "0.0.0"

# Clients (the hashicorp/vault provider among them) require Enterprise build metadata (DECISIONS.md#d23).
VAULT_COMPAT_VERSION = f"2.1.0+ent.vaultguard.{VERSION}"

# Vault Enterprise gates some features behind one-time activation flags (`sys/activation-flags`). The only
# gated feature this server has, the OAuth resource server, is active from the start; the flags API reports
# it so that configurations written for Vault (which activate it first) work unchanged.
ACTIVATION_FLAGS = ("oauth-resource-server",)
