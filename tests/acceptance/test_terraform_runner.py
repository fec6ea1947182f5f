"""`run_terraform` and `python -m vaultguard.provider.terraform`: bundled CLI, Terraform's exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vaultguard.provider.terraform import run_terraform, terraform_command

pytestmark = pytest.mark.terraform


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "TERRAFORM"))}
    env.update(HOME=str(tmp_path), CHECKPOINT_DISABLE="1", **extra)
    return env


def test_the_module_runs_the_bundled_terraform(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "vaultguard.provider.terraform", "version"],
        capture_output=True,
        text=True,
        env=clean_env(tmp_path),
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Terraform v1.")


def test_run_terraform_returns_terraforms_exit_code(tmp_path: Path) -> None:
    assert run_terraform(["version"], cwd=tmp_path, env=clean_env(tmp_path)) == 0
    assert run_terraform(["plan", "-no-such-flag"], cwd=tmp_path, env=clean_env(tmp_path)) == 1


def test_plan_detailed_exitcode_two_reaches_the_caller(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('resource "terraform_data" "x" { input = "y" }\n')
    env = clean_env(tmp_path, TF_IN_AUTOMATION="1")

    assert run_terraform(["init", "-no-color"], cwd=tmp_path, env=env) == 0
    assert run_terraform(["plan", "-detailed-exitcode", "-no-color"], cwd=tmp_path, env=env) == 2


def test_terraform_env_var_overrides_the_bundled_cli(tmp_path: Path) -> None:
    fake = tmp_path / "tofu"
    fake.write_text('#!/bin/sh\necho "fake $*"\nexit 3\n')
    fake.chmod(0o755)
    env = clean_env(tmp_path, TERRAFORM=str(fake))

    assert terraform_command(["plan"], env) == [str(fake), "plan"]
    assert run_terraform(["plan"], cwd=tmp_path, env=env) == 3
    result = subprocess.run(
        [sys.executable, "-m", "vaultguard.provider.terraform", "apply", "-auto-approve"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (3, "fake apply -auto-approve\n")
