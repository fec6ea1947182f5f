"""examples/ci/terraform-check.sh, the CI plan check of docs/terraform.md, against a real dev server and the
real Terraform: a clean configuration passes, an unformatted file fails, and drift made out of band over HTTP
fails the job with the drift message.

The script finds Terraform the way a CI job would (`$TERRAFORM`, else `terraform` on PATH, else `vaultguard
terraform`); the setup `terraform apply` runs the same binary, so both read the same state format.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest

# The acceptance fixtures: a real `vaultguard server --dev`, a fresh namespace per test, and the Terraform
# CLI in the test's own directory with the provider installed in a filesystem mirror.
from acceptance.conftest import attached_provider, namespace, service, terraform, terraform_cli_config, wheels  # noqa: F401
from acceptance.installs import Install
from acceptance.tf_steps import apply, ok

import vgtest
from vaultguard.provider.install import PLATFORMS

pytestmark = pytest.mark.terraform

SCRIPT = Path(__file__).parents[2] / "examples" / "ci" / "terraform-check.sh"
VENV_BIN = Path(sys.executable).parent

# Formatted as `terraform fmt` writes it. Address, token and namespace come from the environment, as in CI.
CONFIGURATION = """\
terraform {
  required_providers {
    vault = {
      source = "vaultguard/vault"
    }
  }
}

provider "vault" {}

resource "vault_identity_entity" "ci_agent" {
  name = "ci-agent"
}

resource "vault_policy" "ci_ceiling" {
  name   = "ci-ceiling"
  policy = <<-EOT
    path "secret/data/ci/*" {
      capabilities = ["read"]
    }
  EOT
}

resource "vault_agent_registration" "ci_agent" {
  display_name     = "ci-agent"
  entity_id        = vault_identity_entity.ci_agent.id
  description      = "Runs the nightly build"
  owner            = "platform-team"
  ceiling_policies = [vault_policy.ci_ceiling.name]
}
"""

DRIFT_MESSAGE = "drift: the plan above is not empty"


class CheckResult(NamedTuple):
    rc: int
    output: str


@pytest.fixture
def workspace(terraform, service, namespace):  # noqa: F811 - the imported fixtures
    """The acceptance `terraform` fixture, set up like a CI job: credentials in VAULT_* variables."""
    terraform.env.update(VAULT_ADDR=service.url, VAULT_TOKEN=service.root_token, VAULT_NAMESPACE=namespace)
    binary = os.environ.get("TERRAFORM") or shutil.which("terraform")
    if binary:
        terraform.env["TERRAFORM"] = binary  # the setup apply runs what the script will find on PATH
    terraform.write("main.tf", CONFIGURATION)
    return terraform


def applied(workspace):
    """`terraform init` and `apply`, as the person who wrote the configuration did before CI ran."""
    ok(workspace("init"))
    apply(workspace)
    return workspace


def run_check(workspace, **env: str) -> CheckResult:
    """Run the script as a CI job would, on the test's configuration directory."""
    full_env = {k: v for k, v in workspace.env.items() if k != "TERRAFORM"}
    if os.environ.get("TERRAFORM"):
        full_env["TERRAFORM"] = os.environ["TERRAFORM"]
    full_env["PATH"] = os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "/usr/bin:/bin")])
    full_env.update(env)
    completed = subprocess.run(
        [str(SCRIPT), str(workspace.workdir)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    return CheckResult(completed.returncode, completed.stdout + completed.stderr)


def test_a_clean_applied_configuration_passes_every_step(workspace):
    applied(workspace)

    result = run_check(workspace)

    assert result.rc == 0, result.output
    for step in ("1/4 terraform fmt", "2/4 terraform init", "3/4 terraform validate", "4/4 terraform plan"):
        assert step in result.output
    assert "OK: formatted, valid, and no changes" in result.output


def test_an_unformatted_file_fails_before_terraform_contacts_the_server(workspace):
    workspace.write("extra.tf", 'variable "region" {\ndefault="eu"\n}\n')

    result = run_check(workspace)

    assert result.rc == 3, result.output
    assert "extra.tf" in result.output
    assert "not in canonical format; run 'terraform fmt -recursive'" in result.output
    assert "2/4 terraform init" not in result.output


def test_a_registration_changed_out_of_band_fails_with_the_drift_message(workspace, service, namespace):  # noqa: F811
    applied(workspace)
    api = service.client(namespace=namespace)
    record = api.get("agent-registry/registration/display-name/ci-agent").json()["data"]
    changed = {key: record[key] for key in ("entity_id", "owner", "ceiling_policies")}
    resp = api.post(
        "agent-registry/registration/display-name/ci-agent", json={**changed, "description": "edited by hand"}
    )
    assert resp.status_code == 200, resp.text

    result = run_check(workspace, GITHUB_ACTIONS="true")

    assert result.rc == 2, result.output
    assert "vault_agent_registration.ci_agent" in result.output  # the plan shows what drifted
    assert "edited by hand" in result.output
    assert f"FAILED: {DRIFT_MESSAGE}" in result.output
    assert f"::error title=terraform-check::{DRIFT_MESSAGE}" in result.output


def test_a_configuration_change_not_yet_applied_also_fails_the_check(workspace):
    applied(workspace)
    workspace.write("main.tf", CONFIGURATION.replace("Runs the nightly build", "Runs the hourly build"))

    result = run_check(workspace)

    assert result.rc == 2, result.output
    assert DRIFT_MESSAGE in result.output


# ---- from a fresh checkout, with its own install, and state shared in PostgreSQL -----------------------------

BACKEND = """\
terraform {
  backend "pg" {}
}
"""


@pytest.fixture
def state_database():
    """A PostgreSQL database for Terraform's `pg` backend (state and its lock), as a team would share."""
    if not vgtest.pg_available():
        pytest.skip("PostgreSQL at 127.0.0.1:5432 is not reachable")
    name, _ = vgtest.create_pg_database()
    try:
        yield name, f"postgres://127.0.0.1:5432/{name}?sslmode=disable"
    finally:
        vgtest.drop_pg_database(name)


def test_a_fresh_checkout_with_its_own_install_checks_the_shared_state(
    tmp_path, terraform, service, namespace, wheels, state_database  # noqa: F811 - the imported fixtures
):
    database, conn_str = state_database
    # The author: this test's environment applies, with the lock file recorded for every platform.
    terraform.env.update(VAULT_ADDR=service.url, VAULT_TOKEN=service.root_token, VAULT_NAMESPACE=namespace)
    terraform.env["PG_CONN_STR"] = conn_str
    terraform.write("main.tf", CONFIGURATION)
    terraform.write("backend.tf", BACKEND)
    mirror = str(terraform.env["TF_CLI_CONFIG_FILE"]) + ".mirror"
    platforms = [f"-platform={p}" for p in PLATFORMS]
    ok(terraform("providers", "lock", f"-fs-mirror={mirror}", *platforms, "vaultguard/vault"))
    ok(terraform("init"))
    apply(terraform)

    # The runner: another install at another path, and a checkout of what is committed (no state, no .terraform).
    runner = Install(tmp_path / "runner" / "venv", wheels["current"], service)
    runner.provider_rc()
    checkout = tmp_path / "runner" / "checkout"
    checkout.mkdir()
    for name in ("main.tf", "backend.tf", ".terraform.lock.hcl"):
        shutil.copy(terraform.workdir / name, checkout / name)
    env = {
        **runner.env,
        "PATH": f"{runner.path / 'bin'}:/usr/bin:/bin",  # `vaultguard terraform`: no other Terraform here
        "VAULT_NAMESPACE": namespace,
        "PG_CONN_STR": conn_str,
    }

    def check(**extra: str) -> CheckResult:
        completed = subprocess.run(
            [str(SCRIPT), str(checkout)], env={**env, **extra}, capture_output=True, text=True, timeout=300,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        return CheckResult(completed.returncode, completed.stdout + completed.stderr)

    in_sync = check()
    assert in_sync.rc == 0, in_sync.output
    assert (checkout / ".terraform.lock.hcl").read_bytes() == terraform.lock_file.read_bytes()
    assert not (checkout / "terraform.tfstate").exists()

    # An apply elsewhere holds the state lock: the check waits for it rather than read a state mid-change.
    import psycopg

    with psycopg.connect(f"postgresql://127.0.0.1:5432/{database}", autocommit=True) as holder:
        holder.execute(
            "SELECT pg_advisory_lock(id) FROM terraform_remote_state.states WHERE name = 'default'"
        )
        refused = check(TF_PLAN_LOCK_TIMEOUT="0s")
        assert refused.rc == 1, refused.output
        assert "Error acquiring the state lock" in refused.output
        started = time.monotonic()
        waiting = subprocess.Popen(
            [str(SCRIPT), str(checkout)], env={**env, "TF_PLAN_LOCK_TIMEOUT": "60s"}, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(4)
        assert waiting.poll() is None, waiting.communicate()[0]
        holder.execute("SELECT pg_advisory_unlock_all()")
    output, _ = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, output
    assert time.monotonic() - started >= 4

    # Drift made over HTTP is seen from the shared state: exit 2.
    api = service.client(namespace=namespace)
    record = api.get("agent-registry/registration/display-name/ci-agent").json()["data"]
    changed = {key: record[key] for key in ("entity_id", "owner", "ceiling_policies")}
    resp = api.post(
        "agent-registry/registration/display-name/ci-agent", json={**changed, "description": "edited by hand"}
    )
    assert resp.status_code == 200, resp.text
    drift = check()
    assert drift.rc == 2, drift.output
    assert DRIFT_MESSAGE in drift.output

    # An error (a refused token) is exit 1, never a green job.
    failed = check(VAULT_TOKEN="not-a-token")
    assert failed.rc == 1, failed.output
