"""Installing the provider for Terraform: mirror layout, launcher, CLI config (Terraform: acceptance)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vaultguard.provider.install import (
    cli_config,
    install_mirror,
    launcher_script,
    terraform_platform,
    terraform_version,
)
from vaultguard.provider.provider import package_version


def test_mirror_holds_an_executable_named_as_terraform_expects(tmp_path: Path) -> None:
    output = tmp_path / "vaultguard.tfrc"

    mirror = install_mirror(output)

    version = terraform_version(package_version())
    executable = (
        mirror / "registry.terraform.io/vaultguard/vault" / version / terraform_platform()
        / f"terraform-provider-vault_v{version}"
    )  # fmt: skip
    assert executable.is_file() and os.access(executable, os.X_OK)
    assert "-I -m vaultguard.provider.main" in executable.read_text()
    assert str(Path(sys.executable)) in executable.read_text()


def test_cli_config_routes_vaultguard_to_the_mirror_only(tmp_path: Path) -> None:
    output = tmp_path / "vaultguard.tfrc"

    mirror = install_mirror(output)

    text = output.read_text()
    assert f'path    = "{mirror}"' in text
    assert 'include = ["registry.terraform.io/vaultguard/*"]' in text
    assert 'exclude = ["registry.terraform.io/vaultguard/*"]' in text
    assert "dev_overrides" not in text


def test_reinstalling_writes_identical_files_so_lock_hashes_hold(tmp_path: Path) -> None:
    output = tmp_path / "vaultguard.tfrc"
    mirror = install_mirror(output)
    before = {p: p.read_bytes() for p in mirror.rglob("*") if p.is_file()}

    install_mirror(output)

    assert {p: p.read_bytes() for p in mirror.rglob("*") if p.is_file()} == before


def test_launcher_starts_the_provider(tmp_path: Path) -> None:
    launcher = tmp_path / "terraform-provider-vault"
    launcher.write_text(launcher_script())
    launcher.chmod(0o755)

    result = subprocess.run(
        [str(launcher), "--version"], capture_output=True, text=True, timeout=30, cwd=tmp_path
    )

    assert result.returncode == 0
    assert result.stdout.strip() == f"terraform-provider-vault {package_version()}"


def test_launcher_ignores_python_files_in_terraforms_working_directory(tmp_path: Path) -> None:
    (tmp_path / "vaultguard").mkdir()
    (tmp_path / "vaultguard" / "__init__.py").write_text("raise SystemExit('hijacked')\n")
    launcher = tmp_path / "launcher"
    launcher.write_text(launcher_script())
    launcher.chmod(0o755)

    result = subprocess.run(
        [str(launcher), "--version"], capture_output=True, text=True, timeout=30, cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr


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
