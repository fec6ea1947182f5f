"""Every `vaultguard` command answers bad input and missing things with one `Error: ...` line on stderr and a
non-zero exit status, never a Python traceback. (terraform-import's own cases are in
tests/acceptance/test_bulk_import.py; explain's and token mint's in test_explain.py and test_dev_issuer.py.)
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import vgtest


def vaultguard(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [vgtest.VAULTGUARD, *args],
        cwd=cwd,
        env={**os.environ, "VAULTGUARD_DATA_DIR": str(cwd / "data"), **env},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], fragment: str, status: int = 2) -> None:
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert fragment in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port something else is listening on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


# ---- vaultguard server --------------------------------------------------------------------------------


def test_server_on_a_port_in_use_says_so_before_printing_the_dev_banner(tmp_path, taken_port):
    result = vaultguard("server", "--dev", "--listen", f"127.0.0.1:{taken_port}", "--workers", "2", cwd=tmp_path)

    assert_one_line_error(result, f'listener "127.0.0.1:{taken_port}": address already in use')
    assert "Root Token" not in result.stdout  # no banner for a server that never ran


def test_server_with_a_config_file_that_is_not_text_names_the_file(tmp_path):
    (tmp_path / "server.hcl").write_bytes(b"\xff\xfe\x00listener")

    assert_one_line_error(vaultguard("server", "--config", "server.hcl", cwd=tmp_path), "is not UTF-8 text")


def test_server_with_a_config_file_it_cannot_read_names_the_file(tmp_path):
    (tmp_path / "server.hcl").mkdir()

    result = vaultguard("server", "--config", "server.hcl", cwd=tmp_path)

    assert_one_line_error(result, "cannot read config file server.hcl: Is a directory")


def test_server_with_an_unsupported_storage_url_names_the_scheme_only(tmp_path):
    result = vaultguard("server", "--dev", "--storage", "mysql://admin:s3cret@db/vault", cwd=tmp_path)

    assert_one_line_error(result, "storage: unsupported URL scheme 'mysql'")
    assert "s3cret" not in result.stderr


def test_server_whose_data_directory_cannot_be_made_names_it(tmp_path):
    (tmp_path / "file").write_text("")

    result = vaultguard("server", "--dev", cwd=tmp_path, VAULTGUARD_DATA_DIR=str(tmp_path / "file" / "data"))

    assert_one_line_error(result, "data directory")


# ---- vaultguard provider rc, terraform ----------------------------------------------------------------


def test_provider_rc_into_a_path_it_cannot_create_names_the_path(tmp_path):
    (tmp_path / "file").write_text("")

    result = vaultguard("provider", "rc", "--output", "file/vaultguard.tfrc", cwd=tmp_path)

    assert_one_line_error(result, "cannot install the provider: ")
    assert "Not a directory" in result.stderr


@pytest.mark.parametrize("program", ["/nonexistent/terraform", "/dev/null"])
def test_terraform_that_cannot_be_started_exits_127_not_a_plan_exit_code(tmp_path, program):
    result = vaultguard("terraform", "plan", "-detailed-exitcode", cwd=tmp_path, TERRAFORM=program)

    # 2 would read as "changes present" to a CI job running plan -detailed-exitcode.
    assert_one_line_error(result, f"cannot run {program}", status=127)


# ---- vaultguard explain, dev-issuer -------------------------------------------------------------------


def test_explain_with_a_missing_ca_bundle_names_the_option(tmp_path):
    result = vaultguard(
        "explain", "--address", "https://127.0.0.1:1", "--token", "t", "--jwt", "a", "--operation", "read",
        "--path", "secret/data/x", "--ca-cert", str(tmp_path / "missing.pem"), cwd=tmp_path,
    )  # fmt: skip

    assert_one_line_error(result, "--ca-cert ")


def test_dev_issuer_on_a_port_in_use_says_so(tmp_path, taken_port):
    result = vaultguard("dev-issuer", "--listen", f"127.0.0.1:{taken_port}", cwd=tmp_path)

    assert_one_line_error(result, "Address already in use")
