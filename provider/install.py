"""Make the provider installable by a normal `terraform init`: a filesystem mirror plus a CLI config.

Layout ("unpacked" filesystem mirror, which Terraform links or copies into `.terraform/providers`):

    <mirror>/registry.terraform.io/vaultguard/vault/<version>/<os>_<arch>/terraform-provider-vault_v<version>

The executable is a small launcher script that execs this environment's Python on
`vaultguard.provider.main` by absolute path, so it works from any directory and does not depend on PATH.
The CLI config routes `vaultguard/*` to the mirror and everything else to the registry as usual. No
dev_overrides: `terraform init` resolves the provider, records its `h1:` hash in `.terraform.lock.hcl`,
and later runs check it. Reinstalling from the same environment writes byte-identical files, so existing
lock files stay valid; a different environment or version gives a different hash, as it should.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import stat
import sys
from pathlib import Path

from vaultguard.provider.provider import PROVIDER_ADDRESS, package_version
from vaultguard.provider.terraform import hcl_string

HOSTNAME, NAMESPACE, TYPE = PROVIDER_ADDRESS.split("/")
EXECUTABLE_PREFIX = f"terraform-provider-{TYPE}"

_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "i386": "386",
    "i686": "386",
    "x86": "386",
    "armv7l": "arm",
    "armv6l": "arm",
}


def terraform_platform() -> str:
    """This machine as Terraform names platforms: `linux_amd64`, `darwin_arm64`, ..."""
    system = sys.platform
    if system.startswith("linux"):
        os_name = "linux"
    elif system == "darwin":
        os_name = "darwin"
    elif system.startswith("freebsd"):
        os_name = "freebsd"
    elif system.startswith("openbsd"):
        os_name = "openbsd"
    elif system in ("win32", "cygwin"):
        os_name = "windows"
    else:
        os_name = system
    machine = platform.machine().lower()
    return f"{os_name}_{_ARCH.get(machine, machine)}"


def terraform_version(pep440: str) -> str:
    """The package version as the semver Terraform requires: `0.1.0`, `0.2.0-rc1`, `0.2.0-dev3+g1a2b`."""
    match = re.fullmatch(
        r"(?:\d+!)?(?P<release>\d+(?:\.\d+)*)(?P<pre>(?:a|b|rc)\d+)?(?:\.post(?P<post>\d+))?"
        r"(?:\.dev(?P<dev>\d+))?(?:\+(?P<local>[a-zA-Z0-9.]+))?",
        pep440,
    )
    if match is None:
        raise ValueError(f"cannot express version {pep440!r} as semver")
    parts = (match["release"].split(".") + ["0", "0"])[:3]
    version = ".".join(str(int(p)) for p in parts)
    prerelease = [
        p
        for p in (
            match["pre"],
            match["post"] and f"post{match['post']}",
            match["dev"] and f"dev{match['dev']}",
        )
        if p
    ]
    if prerelease:
        version += "-" + ".".join(prerelease)
    if match["local"]:
        version += "+" + match["local"]
    return version


def launcher_script(python: str | None = None) -> str:
    """The provider executable's text: exec this environment's Python on the provider entry point.

    `-I` (isolated mode) keeps Terraform's working directory off sys.path: a configuration repository
    holding a `grpc.py` must not be able to run code inside the provider.
    """
    python = python or sys.executable
    return (
        "#!/bin/sh\n"
        "# Installed by vaultguard: Terraform starts this to run the vault provider.\n"
        f'exec {shlex.quote(python)} -I -m vaultguard.provider.main "$@"\n'
    )


def default_mirror_dir(output: Path) -> Path:
    """Where `install_mirror` puts the mirror for config file `output`: beside it, `<output>.mirror`."""
    return output.with_name(output.name + ".mirror")


def install_mirror(output: Path, mirror_dir: Path | None = None) -> Path:
    """Install the provider into a filesystem mirror and write a Terraform CLI config at `output`.

    With `TF_CLI_CONFIG_FILE=<output>`, `terraform init` resolves `source = "vaultguard/vault"` from the
    mirror. Returns the mirror directory (default: `default_mirror_dir(output)`).
    """
    if os.name == "nt":  # pragma: no cover - the launcher is a POSIX shell script
        raise NotImplementedError("installing the provider on Windows is not supported yet")
    output = Path(output).absolute()
    mirror = Path(mirror_dir).absolute() if mirror_dir is not None else default_mirror_dir(output)
    version = terraform_version(package_version())
    target = mirror / HOSTNAME / NAMESPACE / TYPE / version / terraform_platform()
    target.mkdir(parents=True, exist_ok=True)
    # One executable per package directory: Terraform hashes the whole directory for the lock file.
    for stale in target.iterdir():
        if stale.name.startswith(EXECUTABLE_PREFIX) and stale.name != f"{EXECUTABLE_PREFIX}_v{version}":
            stale.unlink()
    executable = target / f"{EXECUTABLE_PREFIX}_v{version}"
    _write_if_changed(executable, launcher_script())
    executable.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)

    output.parent.mkdir(parents=True, exist_ok=True)
    _write_if_changed(output, cli_config(mirror))
    return mirror


def cli_config(mirror: Path) -> str:
    """A Terraform CLI config sending `vaultguard/*` to `mirror` and everything else to its registry."""
    pattern = f"{HOSTNAME}/{NAMESPACE}/*"
    return (
        "# Written by vaultguard: install the vaultguard/vault provider from a local filesystem mirror.\n"
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f"    path    = {hcl_string(str(mirror))}\n"
        f"    include = [{hcl_string(pattern)}]\n"
        "  }\n"
        "  direct {\n"
        f"    exclude = [{hcl_string(pattern)}]\n"
        "  }\n"
        "}\n"
    )


def _write_if_changed(path: Path, text: str) -> None:
    # Leave an identical file untouched so a running Terraform never sees it half-written.
    if path.exists() and path.read_text() == text:
        return
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
