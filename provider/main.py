"""Entry point of `terraform-provider-vault`, the executable Terraform starts.

Kept import-light: Terraform waits for the handshake line on every run, so only what the plugin server
needs is imported before it (the HTTP client and the resources load on first use).
"""

from __future__ import annotations

import gc
import os
import sys


def main(argv: list[str] | None = None) -> int:
    """Serve the provider to Terraform over go-plugin; `--version` prints the version instead.

    `--debug` serves until interrupted for Terraform runs that attach to this process: its first stdout
    line is the value of TF_REATTACH_PROVIDERS to give them (one process for many runs, as in tests).
    """
    args = sys.argv[1:] if argv is None else argv
    if "--version" in args or "-v" in args:
        from vaultguard.provider.provider import package_version

        print(f"terraform-provider-vault {package_version()}")
        return 0
    # Start-up makes tens of thousands of objects that live as long as the process (modules, classes,
    # descriptors): collecting among them while importing only costs time (about 7 ms of every start). The
    # plugin server freezes them and turns the collector back on once it has handshaken.
    gc.disable()
    from vaultguard.provider.plugin_server import defer_unused_modules

    defer_unused_modules()  # before anything imports grpc
    if "--debug" in args:
        from vaultguard.provider.plugin_server import REATTACH_ENV, serve_debug
        from vaultguard.provider.provider import PROVIDER_ADDRESS, VaultProvider

        print(f"vault provider: serving until interrupted; give Terraform {REATTACH_ENV}='<first stdout line>'",
              file=sys.stderr)
        return serve_debug(VaultProvider(), PROVIDER_ADDRESS)
    mismatch = version_mismatch(os.environ.get(PACKAGE_VERSION_ENV))
    if mismatch:
        # Terraform shows a plugin's unexpected stdout lines ("Unrecognized remote plugin message"), and
        # logs its stderr: say it on both.
        print(mismatch)
        print(mismatch, file=sys.stderr)
        return 1

    from vaultguard.provider.plugin_server import serve
    from vaultguard.provider.provider import VaultProvider

    status = serve(VaultProvider())
    # Terraform waits for the plugin process to exit after Shutdown; the interpreter's own teardown
    # (gRPC's threads, the modules) would add ~50 ms to every Terraform command, for nothing.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


# Set by the launcher of a provider package (vaultguard.provider.install): the version it was made for.
PACKAGE_VERSION_ENV = "VAULTGUARD_PROVIDER_PACKAGE_VERSION"


def version_mismatch(package: str | None) -> str | None:
    """Why this vaultguard must not serve a provider package made for vaultguard `package`, or None.

    Terraform selects a provider version from the lock file and the mirror; the code that runs is whatever
    vaultguard the launcher finds. When the two differ, Terraform would report one version and run another.
    """
    from vaultguard.provider.provider import package_version

    installed = package_version()
    if not package or package == installed:
        return None
    return (
        f"vaultguard/vault provider: this is the provider package of vaultguard {package}, but the Python "
        f"environment it found holds vaultguard {installed}. Either install the matching version "
        f"(pip install vaultguard=={package}), or move the configuration to {installed}: run "
        "'vaultguard provider rc' and 'terraform init -upgrade'."
    )


if __name__ == "__main__":
    sys.exit(main())
