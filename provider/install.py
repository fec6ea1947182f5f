"""Make the provider installable by a normal `terraform init`: a filesystem mirror plus a CLI config.

Layout ("packed" filesystem mirror: Terraform unpacks the package it selects into `.terraform/providers`):

    <mirror>/registry.terraform.io/vaultguard/vault/terraform-provider-vault_<version>_<os>_<arch>.zip

one package per platform in `PLATFORMS`, all holding the same launcher script. The package names no path of
this machine (the launcher finds the Python environment at run time, see `launcher_script`) and is built
deterministically, so every install of one vaultguard version, on any machine, at any path, yields
byte-identical packages: a `.terraform.lock.hcl` made on a laptop verifies on a CI runner, and can hold
the hashes of every platform. The CLI config routes `vaultguard/*` to the mirror and everything else to the
registry as usual, and carries the one machine-specific fact, this environment's Python. No dev_overrides.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import shutil
import stat
import sys
from pathlib import Path

from vaultguard.provider.main import PACKAGE_VERSION_ENV
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


# Every platform a package is made for. The launcher is a POSIX shell script, the same bytes on all of them,
# so a lock file can hold the hashes of every platform a team uses (`terraform providers lock -platform=...`).
PLATFORMS = ("darwin_amd64", "darwin_arm64", "linux_amd64", "linux_arm64")

# How the launcher finds the Python environment (see `launcher_script`).
PYTHON_ENV = "VAULTGUARD_PYTHON"
PYTHON_LINE = "# vaultguard-python: "

# A fixed timestamp (the zip format's earliest) and no compression: the archive's bytes depend on nothing
# but the version, not on the machine, the time or the zlib build.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def launcher_script(version: str | None = None) -> str:
    """The provider executable for vaultguard `version` (this one by default): the same bytes everywhere.

    It names no path of this machine. At run time it finds the Python environment holding vaultguard:
    `$VAULTGUARD_PYTHON`; else the `# vaultguard-python:` line that `vaultguard provider rc` writes into the
    Terraform CLI config (`$TF_CLI_CONFIG_FILE`, else `~/.terraformrc`); else `terraform-provider-vault` on
    `PATH`. `-I` (isolated mode) keeps Terraform's working directory off sys.path: a configuration
    repository holding a `grpc.py` must not be able to run code inside the provider.
    """
    version = version or package_version()
    return f"""#!/bin/sh
# The vaultguard/vault provider, package of vaultguard {version}. Terraform starts this file; it runs the
# provider in the Python environment where vaultguard is installed, found in this order:
#   1. ${PYTHON_ENV}: that environment's python;
#   2. the "{PYTHON_LINE.strip()}" line that "vaultguard provider rc" writes into the Terraform CLI config
#      ($TF_CLI_CONFIG_FILE, else ~/.terraformrc);
#   3. terraform-provider-vault on PATH (installed with vaultguard).
# The provider refuses to run when that environment holds another vaultguard version than this package.
{PACKAGE_VERSION_ENV}='{version}'
export {PACKAGE_VERSION_ENV}
fail() {{
  # On stdout too: Terraform shows a plugin's unexpected output lines, and only logs its stderr.
  message="vaultguard/vault provider: $1; run 'vaultguard provider rc' in the environment where vaultguard"
  message="$message is installed, or set {PYTHON_ENV} to its python"
  echo "$message"
  echo "$message" >&2
  exit 1
}}
python="${{{PYTHON_ENV}:-}}"
origin="{PYTHON_ENV}"
if [ -z "$python" ]; then
  origin="${{TF_CLI_CONFIG_FILE:-$HOME/.terraformrc}}"
  if [ -r "$origin" ]; then
    python=$(sed -n '/^{PYTHON_LINE}/{{s///p;q;}}' "$origin")
  fi
fi
if [ -n "$python" ]; then
  if [ ! -x "$python" ]; then
    fail "$python (from $origin) is not an executable Python"
  fi
  exec "$python" -I -m vaultguard.provider.main "$@"
fi
if command -v terraform-provider-vault >/dev/null 2>&1; then
  exec terraform-provider-vault "$@"
fi
fail "no Python environment with vaultguard found"
"""


def package_archive(version: str | None = None) -> bytes:
    """The provider package (a zip holding the launcher), byte-identical for a version on every machine."""
    import io
    import zipfile

    version = version or package_version()
    info = zipfile.ZipInfo(f"{EXECUTABLE_PREFIX}_v{terraform_version(version)}", date_time=_ZIP_EPOCH)
    info.create_system = 3  # Unix, so the mode below is honoured when Terraform unpacks it
    info.external_attr = (stat.S_IFREG | 0o755) << 16
    info.compress_type = zipfile.ZIP_STORED
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(info, launcher_script(version))
    return buffer.getvalue()


def package_name(version: str, platform_name: str) -> str:
    """The file name Terraform expects in a packed filesystem mirror."""
    return f"{EXECUTABLE_PREFIX}_{terraform_version(version)}_{platform_name}.zip"


def default_mirror_dir(output: Path) -> Path:
    """Where `install_mirror` puts the mirror for config file `output`: beside it, `<output>.mirror`."""
    return output.with_name(output.name + ".mirror")


def install_mirror(output: Path, mirror_dir: Path | None = None) -> Path:
    """Install the provider into a filesystem mirror and write a Terraform CLI config at `output`.

    With `TF_CLI_CONFIG_FILE=<output>`, `terraform init` resolves `source = "vaultguard/vault"` from the
    mirror. The mirror then holds exactly this vaultguard version's packages, one per platform in
    `PLATFORMS`; packages of other versions (or of the unpacked layout earlier versions wrote) are removed,
    so Terraform can never select a version whose code is not what runs. Returns the mirror directory
    (default: `default_mirror_dir(output)`).
    """
    if os.name == "nt":  # pragma: no cover - the launcher is a POSIX shell script
        raise NotImplementedError("installing the provider on Windows is not supported yet")
    output = Path(output).absolute()
    mirror = Path(mirror_dir).absolute() if mirror_dir is not None else default_mirror_dir(output)
    version = package_version()
    packages = mirror / HOSTNAME / NAMESPACE / TYPE
    packages.mkdir(parents=True, exist_ok=True)
    # This machine's platform too, should it be another one (a BSD): Terraform asks for its own first.
    current = {package_name(version, p) for p in {*PLATFORMS, terraform_platform()}}
    for stale in packages.iterdir():
        if stale.name not in current:
            shutil.rmtree(stale) if stale.is_dir() and not stale.is_symlink() else stale.unlink()
    archive = package_archive(version)
    for name in sorted(current):
        _write_if_changed(packages / name, archive)

    output.parent.mkdir(parents=True, exist_ok=True)
    _write_if_changed(output, cli_config(mirror).encode())
    return mirror


def lock_command(mirror: Path) -> str:
    """The command that records every platform's hash of the provider in `.terraform.lock.hcl`."""
    platforms = " ".join(f"-platform={p}" for p in PLATFORMS)
    return f"terraform providers lock -fs-mirror={shlex.quote(str(mirror))} {platforms} {NAMESPACE}/{TYPE}"


def cli_config(mirror: Path, python: str | None = None) -> str:
    """A Terraform CLI config sending `vaultguard/*` to `mirror` and everything else to its registry.

    Its `# vaultguard-python:` line tells the provider's launcher which Python environment to run (this
    one by default); it lives here, outside the hashed package, so packages stay the same on every machine.
    """
    pattern = f"{HOSTNAME}/{NAMESPACE}/*"
    return (
        "# Written by vaultguard: install the vaultguard/vault provider from a local filesystem mirror.\n"
        f"{PYTHON_LINE}{python or sys.executable}\n"
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


def _write_if_changed(path: Path, data: bytes) -> None:
    # Leave an identical file untouched so a running Terraform never sees it half-written.
    if path.exists() and path.read_bytes() == data:
        return
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
