"""Entry point of `terraform-provider-vault`, the executable Terraform starts.

Kept import-light: Terraform waits for the handshake line on every run, so only what the plugin server
needs is imported before it (the HTTP client and the resources load on first use).
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    """Serve the provider to Terraform over go-plugin; `--version` prints the version instead."""
    args = sys.argv[1:] if argv is None else argv
    if "--version" in args or "-v" in args:
        from vaultguard.provider.provider import package_version

        print(f"terraform-provider-vault {package_version()}")
        return 0

    from vaultguard.provider.plugin_server import serve
    from vaultguard.provider.provider import VaultProvider

    status = serve(VaultProvider())
    # Terraform waits for the plugin process to exit after Shutdown; the interpreter's own teardown
    # (gRPC's threads, the modules) would add ~50 ms to every Terraform command, for nothing.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    sys.exit(main())
