"""The provider as teams distribute it: separate installs of vaultguard at different paths share one lock
file, a lock file covers every platform, and an upgrade can never run one version while Terraform reports
another.

Each install here is a real one (tests/acceptance/installs.py): a virtual environment of its own, at its own
path, holding a wheel built from this checkout. Terraform runs through each install's own `vaultguard`.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from acceptance.installs import NEXT_VERSION, Install, Result
from tf_steps import NO_CHANGES

from vaultguard.provider.install import PLATFORMS

pytestmark = pytest.mark.terraform

CONFIG = """\
terraform {
  required_providers {
    vault = {
      source = "vaultguard/vault"
    }
  }
}

provider "vault" {}

resource "vault_policy" "p" {
  name   = "distribution"
  policy = "path \\"secret/data/d/*\\" { capabilities = [\\"read\\"] }"
}
"""


def _ok(result: Result) -> Result:
    assert result.rc == 0, result.output
    return result


def _lock_hashes(workdir: Path) -> list[str]:
    return re.findall(r'"(h1:[A-Za-z0-9+/=]+|zh:[0-9a-f]+)"', (workdir / ".terraform.lock.hcl").read_text())


def test_a_lock_file_from_one_install_verifies_with_another_install_elsewhere(tmp_path, wheels, service):
    laptop = Install(tmp_path / "laptop" / "venv", wheels["current"], service)
    runner = Install(tmp_path / "ci runner" / "work" / "env", wheels["current"], service)

    # On the laptop: install the provider, lock it for every platform, apply.
    config = tmp_path / "repo"
    config.mkdir()
    (config / "main.tf").write_text(CONFIG)
    mirror = laptop.provider_rc()
    platforms = [f"-platform={p}" for p in PLATFORMS]
    _ok(laptop.terraform(config, "providers", "lock", f"-fs-mirror={mirror}", *platforms, "vaultguard/vault"))
    locked = (config / ".terraform.lock.hcl").read_text()
    assert _lock_hashes(config), locked
    _ok(laptop.terraform(config, "init", "-no-color"))
    _ok(laptop.terraform(config, "apply", "-auto-approve", "-no-color"))

    # The runner gets the repository (with the lock file and the state, not .terraform) at another path.
    checkout = tmp_path / "ci runner" / "checkout"
    shutil.copytree(config, checkout, ignore=shutil.ignore_patterns(".terraform"))
    runner.provider_rc()
    init = _ok(runner.terraform(checkout, "init", "-no-color"))
    assert "doesn't match any of the checksums" not in init.output
    assert (checkout / ".terraform.lock.hcl").read_text() == locked
    plan = runner.terraform(checkout, "plan", "-detailed-exitcode", "-no-color")
    assert plan.rc == NO_CHANGES, plan.output


def test_an_upgrade_refuses_the_old_package_then_init_upgrade_moves_to_the_new_version(tmp_path, wheels, service):
    install = Install(tmp_path / "venv", wheels["current"], service)
    config = tmp_path / "repo"
    config.mkdir()
    (config / "main.tf").write_text(CONFIG.replace('"distribution"', '"distribution-upgrade"'))
    install.provider_rc()
    _ok(install.terraform(config, "init", "-no-color"))
    _ok(install.terraform(config, "apply", "-auto-approve", "-no-color"))
    old_version = re.search(r'version = "([^"]+)"', (config / ".terraform.lock.hcl").read_text())[1]

    # pip installs the later vaultguard; the working directory still holds the old provider package.
    install.install(wheels["later"])
    refused = install.terraform(config, "plan", "-no-color")
    assert refused.rc == 1
    text = " ".join(refused.output.split())
    assert f"this is the provider package of vaultguard {old_version}" in text
    assert f"holds vaultguard {NEXT_VERSION}" in text
    assert f"pip install vaultguard=={old_version}" in text and "terraform init -upgrade" in text

    # `vaultguard provider rc` now offers only the later version; the lock file still names the old one.
    mirror = install.provider_rc()
    assert sorted(p.name for p in (mirror / "registry.terraform.io/vaultguard/vault").iterdir()) == sorted(
        f"terraform-provider-vault_{NEXT_VERSION}_{p}.zip" for p in PLATFORMS
    )
    assert install.terraform(config, "init", "-no-color").rc == 1
    _ok(install.terraform(config, "init", "-upgrade", "-no-color"))
    assert f'version = "{NEXT_VERSION}"' in (config / ".terraform.lock.hcl").read_text()
    plan = install.terraform(config, "plan", "-detailed-exitcode", "-no-color")
    assert plan.rc == NO_CHANGES, plan.output
