"""Installing the provider for Terraform: mirror layout, launcher, CLI config (Terraform: acceptance)."""

from __future__ import annotations

import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from vaultguard.provider.install import (
    PLATFORMS,
    cli_config,
    default_mirror_dir,
    install_mirror,
    launcher_script,
    lock_command,
    package_archive,
    terraform_platform,
    terraform_version,
)
from vaultguard.provider.main import version_mismatch
from vaultguard.provider.provider import package_version

PACKAGES = "registry.terraform.io/vaultguard/vault"
VERSION = terraform_version(package_version())


def _packages(mirror: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (mirror / PACKAGES).iterdir()}


def test_mirror_holds_one_package_per_platform_named_as_terraform_expects(tmp_path: Path) -> None:
    mirror = install_mirror(tmp_path / "vaultguard.tfrc")

    names = set(_packages(mirror))
    assert {f"terraform-provider-vault_{VERSION}_{p}.zip" for p in PLATFORMS} <= names
    assert f"terraform-provider-vault_{VERSION}_{terraform_platform()}.zip" in names
    with zipfile.ZipFile(mirror / PACKAGES / f"terraform-provider-vault_{VERSION}_linux_arm64.zip") as archive:
        [entry] = archive.infolist()
        assert entry.filename == f"terraform-provider-vault_v{VERSION}"
        assert stat.S_IMODE(entry.external_attr >> 16) == 0o755
        assert "-I -m vaultguard.provider.main" in archive.read(entry).decode()


def test_packages_are_byte_identical_whatever_the_install_path_and_python(tmp_path: Path) -> None:
    laptop = install_mirror(tmp_path / "laptop" / "vaultguard.tfrc")
    runner = install_mirror(tmp_path / "ci runner" / "deep" / "vaultguard.tfrc")

    assert _packages(laptop) == _packages(runner)
    assert len(set(_packages(laptop).values())) == 1  # the platforms' packages hold the same launcher
    archive = next(iter(_packages(laptop).values()))
    for machine_specific in (str(tmp_path), sys.executable, str(Path(sys.executable).parent)):
        assert machine_specific.encode() not in archive
    assert package_archive() == package_archive()


def test_cli_config_routes_vaultguard_to_the_mirror_and_names_this_python(tmp_path: Path) -> None:
    output = tmp_path / "vaultguard.tfrc"

    mirror = install_mirror(output)

    text = output.read_text()
    assert f'path    = "{mirror}"' in text
    assert 'include = ["registry.terraform.io/vaultguard/*"]' in text
    assert 'exclude = ["registry.terraform.io/vaultguard/*"]' in text
    assert f"\n# vaultguard-python: {sys.executable}\n" in text
    assert "dev_overrides" not in text


def test_reinstalling_writes_identical_files_so_lock_hashes_hold(tmp_path: Path) -> None:
    output = tmp_path / "vaultguard.tfrc"
    mirror = install_mirror(output)
    before = {p: p.read_bytes() for p in mirror.rglob("*") if p.is_file()}

    install_mirror(output)

    assert {p: p.read_bytes() for p in mirror.rglob("*") if p.is_file()} == before


def test_installing_removes_other_versions_and_the_old_unpacked_layout(tmp_path: Path) -> None:
    output = tmp_path / "vaultguard.tfrc"
    packages = default_mirror_dir(output) / PACKAGES
    old_zip = packages / "terraform-provider-vault_0.0.1_linux_amd64.zip"
    old_dir = packages / "0.0.1" / "linux_amd64"
    old_dir.mkdir(parents=True)
    (old_dir / "terraform-provider-vault_v0.0.1").write_text("#!/bin/sh\n")
    old_zip.write_bytes(package_archive("0.0.1"))

    install_mirror(output)

    assert not old_zip.exists() and not (packages / "0.0.1").exists()
    assert all(name.startswith(f"terraform-provider-vault_{VERSION}_") for name in _packages(packages.parents[2]))


def test_lock_command_names_the_mirror_and_every_platform(tmp_path: Path) -> None:
    command = lock_command(tmp_path / "my mirror")
    assert command.startswith(f"terraform providers lock -fs-mirror='{tmp_path}/my mirror' ")
    assert all(f"-platform={p}" in command for p in PLATFORMS)
    assert command.endswith(" vaultguard/vault")


# ---- the launcher finds the Python environment at run time ---------------------------------------------------


def _launcher(tmp_path: Path, version: str | None = None) -> Path:
    launcher = tmp_path / "terraform-provider-vault_v1"
    launcher.write_text(launcher_script(version))
    launcher.chmod(0o755)
    return launcher


def _run(launcher: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    # A PATH without this environment's bin directory, and a HOME of the test's own.
    base = {"PATH": "/usr/bin:/bin", "HOME": str(launcher.parent)}
    return subprocess.run(
        [str(launcher), *args], capture_output=True, text=True, timeout=30, cwd=launcher.parent, env={**base, **env}
    )


def test_launcher_runs_the_python_named_by_the_environment_variable(tmp_path: Path) -> None:
    result = _run(_launcher(tmp_path), {"VAULTGUARD_PYTHON": sys.executable}, "--version")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"terraform-provider-vault {package_version()}"


def test_launcher_runs_the_python_named_in_the_cli_config(tmp_path: Path) -> None:
    config = tmp_path / "elsewhere.tfrc"
    config.write_text(cli_config(tmp_path / "mirror", python=sys.executable))

    result = _run(_launcher(tmp_path), {"TF_CLI_CONFIG_FILE": str(config)}, "--version")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"terraform-provider-vault {package_version()}"


def test_launcher_reads_terraformrc_in_home_when_no_cli_config_is_set(tmp_path: Path) -> None:
    (tmp_path / ".terraformrc").write_text(cli_config(tmp_path / "mirror", python=sys.executable))

    assert _run(_launcher(tmp_path), {}, "--version").returncode == 0


def test_launcher_falls_back_to_the_provider_command_on_path(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "terraform-provider-vault").exists()

    result = _run(_launcher(tmp_path), {"PATH": f"{bin_dir}:/usr/bin:/bin"}, "--version")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"terraform-provider-vault {package_version()}"


def test_launcher_without_any_python_fails_with_one_line_saying_what_to_do(tmp_path: Path) -> None:
    result = _run(_launcher(tmp_path), {})

    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("vaultguard/vault provider: no Python environment with vaultguard found; ")
    assert "vaultguard provider rc" in line and "VAULTGUARD_PYTHON" in line
    assert result.stdout.splitlines() == [line]  # Terraform shows stdout lines to the user


def test_launcher_names_a_python_that_no_longer_exists(tmp_path: Path) -> None:
    config = tmp_path / "old.tfrc"
    config.write_text(cli_config(tmp_path / "mirror", python="/gone/venv/bin/python"))

    result = _run(_launcher(tmp_path), {"TF_CLI_CONFIG_FILE": str(config)})

    assert result.returncode == 1
    assert f"/gone/venv/bin/python (from {config}) is not an executable Python" in result.stderr


def test_launcher_ignores_python_files_in_terraforms_working_directory(tmp_path: Path) -> None:
    (tmp_path / "vaultguard").mkdir()
    (tmp_path / "vaultguard" / "__init__.py").write_text("raise SystemExit('hijacked')\n")

    result = _run(_launcher(tmp_path), {"VAULTGUARD_PYTHON": sys.executable}, "--version")

    assert result.returncode == 0, result.stderr


def test_a_package_of_another_version_refuses_to_run_and_says_both_ways_out(tmp_path: Path) -> None:
    result = _run(_launcher(tmp_path, version="0.0.9"), {"VAULTGUARD_PYTHON": sys.executable})

    assert result.returncode == 1
    message = result.stdout.strip()
    assert "provider package of vaultguard 0.0.9, but the Python environment it found holds vaultguard " in message
    assert f"holds vaultguard {package_version()}." in message
    assert "pip install vaultguard==0.0.9" in message and "terraform init -upgrade" in message


def test_the_matching_version_passes_the_check() -> None:
    assert version_mismatch(package_version()) is None
    assert version_mismatch(None) is None


def test_paths_with_quotes_are_escaped_in_hcl(tmp_path: Path) -> None:
    assert 'path    = "/tmp/a\\"b/${x}"' not in cli_config(Path('/tmp/a"b/${x}'))
    assert 'path    = "/tmp/a\\"b/$${x}"' in cli_config(Path('/tmp/a"b/${x}'))


@pytest.mark.parametrize(
    ("pep440", "semver"),
    [
        ("0.1.0", "0.1.0"),
        ("1.2", "1.2.0"),
        ("0.2.0rc1", "0.2.0-rc1"),
        ("0.2.0.dev3+g1a2b", "0.2.0-dev3+g1a2b"),
    ],
)
def test_package_versions_become_semver(pep440: str, semver: str) -> None:
    assert terraform_version(pep440) == semver


def test_platform_is_named_like_terraform_does() -> None:
    os_name, arch = terraform_platform().split("_")
    assert os_name in {"linux", "darwin", "freebsd", "openbsd", "windows"}
    assert arch in {"amd64", "arm64", "386", "arm"} or arch
