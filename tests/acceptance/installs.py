"""Real, separate installs of vaultguard for tests of how the provider is distributed.

An install is a virtual environment of its own, at its own path, into which pip installs a wheel built from
this checkout. Its dependencies (and the bundled Terraform) are borrowed from the test's environment through
a `.pth` line, so nothing is downloaded; vaultguard itself is the wheel's copy, not this checkout.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import NamedTuple

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
NEXT_VERSION = "99.0.0"


class Result(NamedTuple):
    rc: int
    output: str


def _build_wheel(source: Path, out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(source), "-w", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = out.glob("vaultguard-*.whl")
    return wheel


class Wheels:
    """Wheels of this checkout, each built on first use (a build takes several seconds, and only the upgrade
    test needs the later version): `wheels["current"]`, and `wheels["later"]`, the same code as a later
    version to upgrade to."""

    def __init__(self, root: Path):
        self.root = root
        self.built: dict[str, Path] = {}

    def __getitem__(self, name: str) -> Path:
        if name not in self.built:
            self.built[name] = _build_wheel(self._source(name), self.root / name)
        return self.built[name]

    def _source(self, name: str) -> Path:
        if name == "current":
            return REPOSITORY
        if name != "later":
            raise KeyError(name)
        later = self.root / "later-source"
        shutil.copytree(
            REPOSITORY, later, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__")
        )
        pyproject = later / "pyproject.toml"
        pyproject.write_text(re.sub(r'(?m)^version = ".*"$', f'version = "{NEXT_VERSION}"', pyproject.read_text()))
        return later


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Wheels:
    """This checkout as wheels, for separate installs."""
    return Wheels(tmp_path_factory.mktemp("wheels"))


class Install:
    """One install of vaultguard: a virtual environment at `path` holding `requirement` (a wheel's path, or
    anything pip accepts), talking to `service` (None: no server settings)."""

    def __init__(self, path: Path, requirement: Path | str, service=None, *pip_options: str):
        self.path = path
        self.python = path / "bin" / "python"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
        site = Path(sysconfig.get_paths(vars={"base": str(path), "platbase": str(path)})["purelib"])
        # The dependencies (and the bundled Terraform) from the test's environment; vaultguard from the wheel.
        (site / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
        self.install(requirement, *pip_options)
        self.cli_config = path.parent / f"{path.name}.tfrc"
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("VAULT", "TF_", "TERRAFORM", "PLUGIN_"))
        }
        self.env.update(
            HOME=str(path.parent),
            PATH="/usr/bin:/bin",  # neither environment's bin directory: the CLI config says which Python
            TF_CLI_CONFIG_FILE=str(self.cli_config),
            TF_IN_AUTOMATION="1",
            CHECKPOINT_DISABLE="1",
        )
        if service is not None:
            self.env.update(VAULT_ADDR=service.url, VAULT_TOKEN=service.root_token)

    def install(self, requirement: Path | str, *pip_options: str) -> None:
        """pip-install `requirement` here (only vaultguard itself: the dependencies are borrowed)."""
        result = subprocess.run(
            [sys.executable, "-m", "pip", "--python", str(self.python), "install", "--quiet", "--no-deps",
             "--force-reinstall", *pip_options, str(requirement)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, f"pip install {requirement}: {result.stdout}{result.stderr}"

    def provider_rc(self) -> Path:
        result = subprocess.run(
            [self.path / "bin" / "vaultguard", "provider", "rc", "--output", str(self.cli_config)],
            env=self.env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "terraform providers lock -fs-mirror=" in result.stderr
        return Path(str(self.cli_config) + ".mirror")

    def terraform(self, workdir: Path, *args: str) -> Result:
        result = subprocess.run(
            [str(self.python), "-m", "vaultguard.provider.terraform", *args],
            cwd=workdir, env=self.env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        return Result(result.returncode, result.stdout + result.stderr)
