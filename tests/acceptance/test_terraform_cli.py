"""`vaultguard terraform ARGS...` is transparent: every argument reaches Terraform unchanged, with its stdio
and exit code. Each test runs the real `vaultguard` command and asserts Terraform itself ran (its output,
its exit code); vaultguard's own help for the command is `vaultguard help terraform`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.terraform

# A configuration that needs no provider download: one pending change until applied.
PENDING_CHANGE = 'resource "terraform_data" "x" { input = "y" }\n'


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "TERRAFORM", "VAULT_"))}
    # TERRAFORM from the caller's environment (the older release) is kept: the pass-through is the same.
    if "TERRAFORM" in os.environ:
        env["TERRAFORM"] = os.environ["TERRAFORM"]
    env.update(HOME=str(home), CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1", **extra)
    return env


def vaultguard(
    *args: str, cwd: Path, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The `vaultguard` command, as a user runs it (the console script's entry point)."""
    return subprocess.run(
        [sys.executable, "-c", "from vaultguard.service.cli import main; main(prog_name=\"vaultguard\")", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    return clean_env(home)


@pytest.fixture
def project(tmp_path: Path, env: dict[str, str]) -> Path:
    """An initialized Terraform directory (not the working directory of the commands below)."""
    directory = tmp_path / "infra"
    directory.mkdir()
    (directory / "main.tf").write_text(PENDING_CHANGE)
    init = vaultguard("terraform", f"-chdir={directory}", "init", "-no-color", cwd=tmp_path, env=env)
    assert init.returncode == 0, init.stdout + init.stderr
    assert "Terraform has been successfully initialized" in init.stdout
    return directory


def test_chdir_plan_detailed_exitcode_returns_two_with_pending_changes(tmp_path: Path, env, project: Path) -> None:
    result = vaultguard(
        "terraform", f"-chdir={project}", "plan", "-detailed-exitcode", "-no-color", cwd=tmp_path, env=env
    )

    assert result.returncode == 2, result.stdout + result.stderr
    assert "terraform_data.x will be created" in result.stdout
    assert "Usage: vaultguard" not in result.stdout + result.stderr


def test_chdir_plan_detailed_exitcode_returns_zero_once_applied(tmp_path: Path, env, project: Path) -> None:
    apply = vaultguard("terraform", f"-chdir={project}", "apply", "-auto-approve", "-no-color", cwd=tmp_path, env=env)
    assert apply.returncode == 0, apply.stdout + apply.stderr
    assert "Apply complete! Resources: 1 added" in apply.stdout

    result = vaultguard("terraform", f"-chdir={project}", "plan", "-detailed-exitcode", cwd=tmp_path, env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes." in result.stdout


@pytest.mark.parametrize("flag", ["-version", "--version", "-v", "version"])
def test_version_flags_print_terraforms_version(tmp_path: Path, env, flag: str) -> None:
    result = vaultguard("terraform", flag, cwd=tmp_path, env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Terraform v1."), result.stdout
    assert "vaultguard" not in result.stdout


@pytest.mark.parametrize("flag", ["-help", "-h", "--help"])
def test_help_flags_print_terraforms_usage(tmp_path: Path, env, flag: str) -> None:
    result = vaultguard("terraform", flag, cwd=tmp_path, env=env)

    assert result.returncode == 0, result.stderr
    assert "Usage: terraform [global options] <subcommand> [args]" in result.stdout
    assert "-chdir=DIR" in result.stdout  # Terraform's global options, not vaultguard's
    assert "vaultguard" not in result.stdout


def test_a_subcommands_help_is_terraforms(tmp_path: Path, env) -> None:
    result = vaultguard("terraform", "plan", "-help", cwd=tmp_path, env=env)

    assert result.returncode == 0, result.stderr
    assert "Usage: terraform [global options] plan [options]" in result.stdout
    assert "-detailed-exitcode" in result.stdout


def test_workspaces_are_created_selected_and_listed(tmp_path: Path, env, project: Path) -> None:
    chdir = f"-chdir={project}"

    created = vaultguard("terraform", chdir, "workspace", "new", "-no-color", "staging", cwd=tmp_path, env=env)
    assert created.returncode == 0, created.stdout + created.stderr
    assert 'Created and switched to workspace "staging"!' in created.stdout
    listed = vaultguard("terraform", chdir, "workspace", "list", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert [line.strip() for line in listed.stdout.splitlines() if line.strip()] == ["default", "* staging"]

    selected = vaultguard("terraform", chdir, "workspace", "select", "-no-color", "default", cwd=tmp_path, env=env)
    assert selected.returncode == 0, selected.stdout + selected.stderr
    assert 'Switched to workspace "default".' in selected.stdout
    shown = vaultguard("terraform", chdir, "workspace", "show", cwd=tmp_path, env=env)
    assert shown.stdout.strip() == "default"

    missing = vaultguard("terraform", chdir, "workspace", "select", "-no-color", "nope", cwd=tmp_path, env=env)
    assert missing.returncode == 1
    assert 'Workspace "nope" doesn\'t exist.' in missing.stderr


def test_a_failing_command_returns_terraforms_exit_code_and_error(tmp_path: Path, env) -> None:
    unknown_flag = vaultguard("terraform", "plan", "-no-such-flag", cwd=tmp_path, env=env)
    missing_dir = vaultguard("terraform", f"-chdir={tmp_path / 'absent'}", "plan", cwd=tmp_path, env=env)
    unknown_command = vaultguard("terraform", "no-such-command", cwd=tmp_path, env=env)

    assert unknown_flag.returncode == 1
    assert "flag provided but not defined: -no-such-flag" in unknown_flag.stderr
    assert missing_dir.returncode == 1
    assert "Error handling -chdir option" in missing_dir.stderr
    assert unknown_command.returncode == 1
    assert 'Terraform has no command named "no-such-command"' in unknown_command.stderr


def test_standard_input_reaches_terraform(tmp_path: Path, env, project: Path) -> None:
    result = vaultguard("terraform", f"-chdir={project}", "console", cwd=tmp_path, env=env, stdin="1 + 41\n")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "42"


def test_every_argument_reaches_terraform_unchanged(tmp_path: Path, home: Path) -> None:
    """The exact argv Terraform receives, shown by a stand-in named by TERRAFORM (the documented override)."""
    echo = tmp_path / "terraform"
    echo.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\nexit 7\n')
    echo.chmod(0o755)
    args = [
        "-chdir=dir", "-help", "-h", "--help", "-version", "--", "--vaultguard-help", "help", "a b", "", "-x=y",
    ]  # fmt: skip

    result = vaultguard("terraform", *args, cwd=tmp_path, env=clean_env(home, TERRAFORM=str(echo)))

    assert result.returncode == 7
    assert result.stdout.split("\n")[:-1] == args


@pytest.mark.parametrize("command", [["help", "terraform"], ["terraform", "--vaultguard-help"]])
def test_vaultguards_own_help_for_the_command_is_elsewhere(tmp_path: Path, home: Path, command: list[str]) -> None:
    # Terraform must not run: TERRAFORM names nothing, which would exit 127.
    result = vaultguard(*command, cwd=tmp_path, env=clean_env(home, TERRAFORM=str(tmp_path / "absent")))

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: vaultguard terraform [TERRAFORM ARGS]...")
    assert "unchanged" in result.stdout and "TERRAFORM" in result.stdout


def test_vaultguard_help_lists_the_command_and_names_other_commands(tmp_path: Path, env) -> None:
    listing = vaultguard("help", cwd=tmp_path, env=env)
    nested = vaultguard("help", "provider", "rc", cwd=tmp_path, env=env)
    unknown = vaultguard("help", "nope", cwd=tmp_path, env=env)

    assert listing.returncode == 0 and "terraform" in listing.stdout and "Commands:" in listing.stdout
    assert nested.returncode == 0 and nested.stdout.startswith("Usage: vaultguard provider rc")
    assert unknown.returncode == 2 and "no such command: nope" in unknown.stderr
