"""The provider reaches the real Terraform: mirror install, lock file, validate, plan, apply, diagnostics.

A small Vault-shaped HTTP server stands in for the service here, so these tests exercise the provider's
own plumbing (handshake, configuration, client) whatever state the service is in. Terraform starts the
provider itself in every command here, from the mirror, as it does for users (no attached process).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "provider"))
from provider_http import FakeVault  # noqa: E402

from vaultguard.provider.install import terraform_version  # noqa: E402
from vaultguard.provider.provider import package_version  # noqa: E402

pytestmark = [pytest.mark.terraform, pytest.mark.provider_process]

VERSION = terraform_version(package_version())

KV_READ = """
data "vault_kv_secret_v2" "app" {
  mount = "secret"
  name  = "app"
}

output "owner" {
  value = data.vault_kv_secret_v2.app.custom_metadata["owner"]
}
"""


@pytest.fixture
def vault() -> Iterator[FakeVault]:
    fake = FakeVault()
    fake.on(
        "GET",
        "secret/data/app",
        (
            200,
            {
                "data": {
                    "data": {"password": "hunter2"},
                    "metadata": {"custom_metadata": {"owner": "platform"}},
                }
            },
        ),
    )
    yield fake
    fake.close()


def test_init_installs_the_provider_from_the_mirror_and_writes_the_lock_file(terraform, vault) -> None:
    terraform.configure_provider(address=vault.url, token="root")

    init = terraform("init")

    assert init.rc == 0, init.stderr
    assert f"Installed vaultguard/vault v{VERSION}" in init.stdout
    lock = terraform.lock_file.read_text()
    assert 'provider "registry.terraform.io/vaultguard/vault"' in lock
    assert f'version = "{VERSION}"' in lock
    assert re.search(r'"h1:[A-Za-z0-9+/]+=*"', lock)


def test_validate_and_plan_with_a_provider_block_and_no_resources(terraform, vault) -> None:
    terraform.configure_provider(address=vault.url, token="root")
    assert terraform("init").rc == 0

    validate = terraform("validate")
    plan = terraform("plan", "-detailed-exitcode")

    assert validate.rc == 0, validate.stderr
    assert "The configuration is valid." in validate.stdout
    assert plan.rc == 0, plan.stderr
    assert "No changes." in plan.stdout


def test_a_second_init_verifies_the_locked_hash(terraform, vault) -> None:
    terraform.configure_provider(address=vault.url, token="root")
    assert terraform("init").rc == 0
    locked = terraform.lock_file.read_text()

    again = terraform("init")

    assert again.rc == 0, again.stderr
    assert terraform.lock_file.read_text() == locked


def test_terraform_reads_through_the_provider_with_a_child_token(terraform, vault) -> None:
    terraform.configure_provider(address=vault.url, token="root", namespace="team")
    terraform.write("main.tf", KV_READ)
    assert terraform("init").rc == 0

    apply = terraform("apply", "-auto-approve")

    assert apply.rc == 0, apply.stderr
    assert terraform.output("owner") == "platform"
    read = vault.calls("GET", "secret/data/app")[-1]
    assert read.header("X-Vault-Token") == "child-token"
    assert read.header("X-Vault-Namespace") == "team"
    assert vault.calls("POST", "auth/token/create")[0].header("X-Vault-Token") == "root"


def test_plan_exit_code_passes_through_detailed_exitcode(terraform, vault) -> None:
    terraform.configure_provider(address=vault.url, token="root")
    terraform.write("main.tf", KV_READ)
    assert terraform("init").rc == 0

    assert terraform("plan", "-detailed-exitcode").rc == 2  # a new output is a change
    assert terraform("apply", "-auto-approve").rc == 0
    assert terraform("plan", "-detailed-exitcode").rc == 0


def test_missing_address_is_a_clear_error_at_plan_and_a_warning_at_validate(terraform) -> None:
    terraform.configure_provider(token="root")
    terraform.write("main.tf", KV_READ)
    assert terraform("init").rc == 0

    validate = terraform("validate")
    plan = terraform("plan")

    assert validate.rc == 0
    assert "Warning: Missing Vault address" in validate.stdout + validate.stderr
    assert plan.rc == 1
    assert "Error: Missing Vault address" in plan.stderr
    assert "VAULT_ADDR" in plan.stderr


def test_address_from_the_environment_is_used(terraform, vault) -> None:
    terraform.configure_provider(token="root")
    terraform.write("main.tf", KV_READ)
    assert terraform("init").rc == 0

    apply = terraform("apply", "-auto-approve", env={"VAULT_ADDR": vault.url})

    assert apply.rc == 0, apply.stderr
    assert vault.calls("GET", "secret/data/app")


def test_an_invalid_argument_fails_validate_pointing_at_its_line(terraform, vault) -> None:
    terraform.configure_provider(address=vault.url, token="root")
    terraform.write("main.tf", KV_READ.replace('name  = "app"', 'name  = "app"\n  version = -1'))
    assert terraform("init").rc == 0

    validate = terraform("validate")

    assert validate.rc == 1
    assert "Error: Invalid value for version" in validate.stderr
    assert "main.tf line 5" in validate.stderr
    assert "version must be at least 0; got -1." in validate.stderr
    assert vault.requests == []  # validation never contacts the server


def test_server_errors_reach_the_user_with_the_servers_message(terraform, vault) -> None:
    vault.on("GET", "secret/data/app", (403, {"errors": ["permission denied"]}))
    terraform.configure_provider(address=vault.url, token="root")
    terraform.write("main.tf", KV_READ)
    assert terraform("init").rc == 0

    plan = terraform("plan")

    assert plan.rc == 1
    assert "Error: Unable to read vault_kv_secret_v2" in plan.stderr
    assert "permission denied" in plan.stderr


def test_terraform_completes_the_mutual_tls_handshake(terraform, vault, record_property) -> None:
    terraform.configure_provider(address=vault.url, token="root")
    assert terraform("init").rc == 0

    result = terraform("providers", "schema", "-json", env={"TF_LOG": "debug"})

    assert result.rc == 0, result.stderr
    assert '"registry.terraform.io/vaultguard/vault"' in result.stdout
    log = result.stderr
    assert "using plugin: version=6" in log
    assert "Handshake failed" not in log and "PEER_DID_NOT_RETURN_A_CERTIFICATE" not in log
    started = _log_time(log, "provider: plugin started")
    ready = _log_time(log, "provider: using plugin")
    record_property("terraform_plugin_start_to_handshake_ms", round((ready - started).total_seconds() * 1000))


def _log_time(log: str, marker: str) -> datetime:
    line = next(line for line in log.splitlines() if marker in line)
    return datetime.fromisoformat(line.split(" ", 1)[0].replace("Z", "+00:00"))
