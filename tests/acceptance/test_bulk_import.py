"""`vaultguard terraform-import` end to end: objects created over HTTP on a real server, the command run as a
user runs it, then the real Terraform generates their configuration, imports them and plans no change.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from tf_steps import NO_CHANGES, apply, closed_port_address, ok

import vgtest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from api_objects import create_entity, jwks_profile, static_profile  # noqa: E402

pytestmark = pytest.mark.terraform

# The round trip at full size: 300 registrations and 3 profiles take about 40 s on the project's 2-core
# machine, most of it in Terraform (plan, apply, plan: about 9 s each); the namespace case is smaller.
MANY = 300


# ---- helpers ------------------------------------------------------------------------------------------


def run_import(*args: str, env: dict[str, str] | None = None, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`vaultguard terraform-import ARGS` as a subprocess, with nothing of the developer's Vault settings."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "TERRAFORM_VAULT_"))}
    base["HOME"] = str(cwd)  # no ~/.vault-token
    return subprocess.run(
        [vgtest.VAULTGUARD, "terraform-import", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def in_parallel(count: int, make: Callable[[vgtest.Client, int], Any], server: Any, namespace: str = "") -> None:
    """Call `make(client, i)` for i in range(count) on 8 threads, each with its own HTTP session."""
    local = threading.local()

    def one(i: int) -> Any:
        if not hasattr(local, "client"):
            local.client = server.client(namespace)
        return make(local.client, i)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(count)))


def registration_fields(i: int) -> dict[str, Any]:
    """Varied registrations: every optional field shows up, and some names collide as labels."""
    fields: dict[str, Any] = {"display_name": f"agent-{i:03d}"}
    if i % 3 == 0:
        fields["ceiling_policies"] = ["reader", f"team-{i % 5}"]
    if i % 4 == 0:
        fields.update(owner="platform", description=f"agent number {i}")
    if i % 7 == 0:
        fields["no_default_ceiling_policy"] = True
    if i % 11 == 0:
        fields["optional_authorization_details"] = True
    if i % 50 == 5:
        fields["display_name"] = f"Agent {i - 1:03d}"  # the label agent_004 again, as agent-004's
    if i % 50 == 6:
        fields["display_name"] = f"team/agent.{i:03d}"
    return fields


def register(client: vgtest.Client, fields: dict[str, Any]) -> str:
    body = {**fields, "entity_id": create_entity(client)}
    resp = client.post("agent-registry/register", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]["id"]


def create_profile(client: vgtest.Client, name: str, body: dict[str, Any]) -> None:
    resp = client.post(f"sys/config/oauth-resource-server/{name}", json=body)
    assert resp.status_code in (200, 204), resp.text


def one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """The command failed with one `Error: ...` line on stderr, naming every fragment, and no traceback."""
    assert result.returncode != 0, result
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[vgtest.Server]:
    """A server of its own, so its root namespace holds only what the test puts there."""
    srv = vgtest.Server("sqlite:///" + str(tmp_path / "bulk.db"), tmp_path, workers=2).start()
    try:
        yield srv
    finally:
        srv.stop()


# ---- round trips --------------------------------------------------------------------------------------


def test_hundreds_of_objects_are_imported_and_plan_clean_in_the_root_namespace(terraform, own_server):
    in_parallel(MANY, lambda client, i: register(client, registration_fields(i)), own_server)
    root = own_server.client()
    create_profile(root, "corp-idp", jwks_profile("https://corp.example.com/", audiences=["api"]))
    create_profile(root, "Corp.IdP", jwks_profile("https://other.example.com", enabled=False))
    create_profile(root, "static", static_profile("https://static.example.com", supported_algorithms=["RS256"]))

    # The command, configured from the environment as the provider would be.
    env = {"VAULT_ADDR": own_server.url, "VAULT_TOKEN": own_server.root_token}
    result = run_import("--output", "imports.tf", env=env, cwd=terraform.workdir)
    assert result.returncode == 0, result.stderr
    assert f"listed {MANY} registrations, 3 profiles" in result.stderr
    text = (terraform.workdir / "imports.tf").read_text()
    assert text.count("\nimport {") == MANY + 3
    assert "to = vault_agent_registration.agent_004\n" in text and "to = vault_agent_registration.agent_004_2\n" in text
    assert "to = vault_oauth_resource_server_config_profile.corp_idp_2\n" in text

    # A rerun against the same server writes the same file; an existing file needs --force.
    one_line_error(run_import("--output", "imports.tf", env=env, cwd=terraform.workdir), "--force")
    ok_rerun = run_import("--output", "imports.tf", "--force", env=env, cwd=terraform.workdir)
    assert ok_rerun.returncode == 0, ok_rerun.stderr
    assert (terraform.workdir / "imports.tf").read_text() == text

    # Terraform generates the configuration, imports everything, and then has nothing to change.
    terraform.configure_provider(address=own_server.url, token=own_server.root_token)
    ok(terraform("init"))
    ok(terraform("plan", "-generate-config-out=generated.tf", timeout=600))
    applied = apply(terraform)
    assert f"Apply complete! Resources: {MANY + 3} imported, 0 added, 0 changed, 0 destroyed." in applied.stdout
    final = terraform("plan", "-detailed-exitcode", timeout=600)
    assert final.rc == NO_CHANGES, final.stdout + final.stderr
    generated = (terraform.workdir / "generated.tf").read_text()
    assert 'display_name                   = "team/agent.056"' in generated
    assert "public_keys {" in generated


def test_a_namespace_is_imported_with_the_providers_import_namespace_variable(terraform, service, namespace):
    client = service.client(namespace)
    in_parallel(20, lambda c, i: register(c, registration_fields(i)), service, namespace)
    create_profile(client, "ns-idp", jwks_profile("https://ns.example.com"))

    result = run_import(
        "--namespace", namespace, "--address", service.url, "--token", service.root_token,
        "--output", "imports.tf", cwd=terraform.workdir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"TERRAFORM_VAULT_NAMESPACE_IMPORT={namespace} terraform plan" in result.stderr

    # The provider works in the root namespace; the imported objects get `namespace` from the variable.
    terraform.configure_provider(address=service.url, token=service.root_token)
    ok(terraform("init"))
    env = {"TERRAFORM_VAULT_NAMESPACE_IMPORT": namespace}
    ok(terraform("plan", "-generate-config-out=generated.tf", env=env))
    assert f'namespace                      = "{namespace}"' in (terraform.workdir / "generated.tf").read_text()
    applied = ok(terraform("apply", "-auto-approve", env=env))
    assert "Resources: 21 imported, 0 added, 0 changed, 0 destroyed." in applied.stdout
    # Without the variable: the namespace is in the configuration now.
    final = terraform("plan", "-detailed-exitcode")
    assert final.rc == NO_CHANGES, final.stdout + final.stderr


# ---- failures -----------------------------------------------------------------------------------------


def test_an_unreachable_server_is_a_one_line_error(tmp_path: Path):
    address = closed_port_address()

    result = run_import("--address", address, "--token", "t", "--output", "imports.tf", cwd=tmp_path)

    one_line_error(result, f"could not reach {address}")
    assert not (tmp_path / "imports.tf").exists()


def test_a_bad_token_is_a_one_line_error(service, tmp_path: Path):
    result = run_import("--address", service.url, "--token", "not-a-token", "--output", "imports.tf", cwd=tmp_path)

    one_line_error(result, "refused the token", "403")


def test_a_missing_namespace_is_a_one_line_error(service, tmp_path: Path):
    env = {"VAULT_ADDR": service.url, "VAULT_TOKEN": service.root_token, "VAULT_NAMESPACE": "no-such-ns"}

    result = run_import("--output", "imports.tf", env=env, cwd=tmp_path)

    one_line_error(result, "namespace no-such-ns does not exist")


def test_an_existing_output_file_is_kept(service, tmp_path: Path):
    (tmp_path / "imports.tf").write_text("# mine\n")

    result = run_import("--address", service.url, "--token", service.root_token, "--output", "imports.tf", cwd=tmp_path)

    one_line_error(result, "imports.tf already exists: use --force to overwrite it")
    assert (tmp_path / "imports.tf").read_text() == "# mine\n"
