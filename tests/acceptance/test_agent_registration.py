"""vault_agent_registration with the real Terraform CLI against the real service: the standard acceptance
steps, plus what the upstream resource gets wrong (DECISIONS.md#d50).

Entities are created over HTTP (the service's client), not with Terraform: these tests are about the
registration resource alone.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from tf_steps import (
    CHANGES,
    NO_CHANGES,
    apply,
    assert_empty_plan,
    assert_no_changes,
    assert_plans,
    fails,
    ok,
    plan,
    point_at_unreachable_service,
)

pytestmark = pytest.mark.terraform

ADDRESS = "vault_agent_registration.agent"


# ---- helpers ------------------------------------------------------------------------------------------


def new_entity(client: Any) -> str:
    resp = client.post("identity/entity", json={"name": "entity-" + uuid.uuid4().hex[:8]})
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]["id"]


def register(client: Any, display_name: str, **fields: Any) -> dict[str, Any]:
    """A registration made out of band (over HTTP), with a new entity; its full record."""
    body = {"display_name": display_name, "entity_id": new_entity(client), **fields}
    resp = client.post("agent-registry/register", json=body)
    assert resp.status_code == 200, resp.text
    return stored(client, resp.json()["data"]["id"])


def stored(client: Any, reg_id: str) -> dict[str, Any] | None:
    resp = client.get(f"agent-registry/registration/id/{reg_id}")
    if resp.status_code == 404:
        return None
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def registration_names(client: Any) -> list[str]:
    resp = client.list("agent-registry/registration/display-name")
    return [] if resp.status_code == 404 else resp.json()["data"]["keys"]


def hcl(name: str = "agent", **arguments: Any) -> str:
    """A `vault_agent_registration` block; values are written as JSON, which HCL reads as-is."""
    lines = [f"  {key} = {json.dumps(value)}" for key, value in arguments.items()]
    return f'resource "vault_agent_registration" "{name}" {{\n' + "\n".join(lines) + "\n}\n"


def state_of(terraform: Any, address: str = ADDRESS) -> dict[str, Any] | None:
    """One resource's attributes in the local state file (None when not in state)."""
    path = terraform.workdir / "terraform.tfstate"
    if not path.exists():
        return None
    kind, name = address.split(".")
    for resource in json.loads(path.read_text())["resources"]:
        if resource["mode"] == "managed" and (resource["type"], resource["name"]) == (kind, name):
            return resource["instances"][0]["attributes"]
    return None


# ---- lifecycle ----------------------------------------------------------------------------------------


def test_a_registration_is_created_updated_cleared_and_replaced_without_spurious_diffs(
    terraform, service, namespace
):
    client = service.client(namespace)
    entity = new_entity(client)
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    terraform.write(
        "main.tf",
        hcl(
            display_name="deploy-bot",
            entity_id=entity,
            ceiling_policies=["deploy", "Secrets-Read"],
            description="Deploys the payments service",
            owner="platform-team",
            optional_authorization_details=True,
        ),
    )
    ok(terraform("init"))

    # create: the server appends the default ceilings and lowercases; state holds what was declared
    apply(terraform)
    state = state_of(terraform)
    record = stored(client, state["id"])
    assert record["ceiling_policies"] == ["deploy", "secrets-read", "default", "default-ceiling"]
    assert (record["description"], record["owner"]) == ("Deploys the payments service", "platform-team")
    assert record["optional_authorization_details"] is True
    assert state["ceiling_policies"] == ["deploy", "Secrets-Read"]
    assert state["no_default_ceiling_policy"] is False
    assert (state["creation_time"], state["last_updated_time"]) == (
        record["creation_time"],
        record["last_updated_time"],
    )
    ok(terraform("refresh"))
    assert_empty_plan(terraform)

    # in-place update: description/owner cleared, ceilings removed, flag back to its default;
    # last_updated_time is unknown in the plan and the server's new value after apply
    terraform.write("main.tf", hcl(display_name="deploy-bot", entity_id=entity))
    assert_plans(
        terraform,
        "update in-place",
        '- description                    = "Deploys the payments service" -> null',
        '- owner                          = "platform-team" -> null',
        "optional_authorization_details = true -> false",
        "last_updated_time",
        "(known after apply)",
        absent=("must be replaced",),
    )
    apply(terraform)
    record = stored(client, state["id"])
    assert (record["description"], record["owner"]) == ("", "")
    assert record["ceiling_policies"] == ["default", "default-ceiling"]
    assert record["optional_authorization_details"] is False
    updated = state_of(terraform)
    assert updated["id"] == state["id"]
    assert updated["ceiling_policies"] == []
    assert updated["last_updated_time"] == record["last_updated_time"]
    assert_empty_plan(terraform)

    # the default ceilings may be listed explicitly, with or without the opt-out: no perpetual diff
    terraform.write(
        "main.tf", hcl(display_name="deploy-bot", entity_id=entity, ceiling_policies=["default", "deploy"])
    )
    apply(terraform)
    assert stored(client, state["id"])["ceiling_policies"] == ["default", "deploy", "default-ceiling"]
    assert state_of(terraform)["ceiling_policies"] == ["default", "deploy"]
    assert_empty_plan(terraform)
    terraform.write(
        "main.tf",
        hcl(
            display_name="deploy-bot",
            entity_id=entity,
            ceiling_policies=["default-ceiling"],
            no_default_ceiling_policy=True,
        ),
    )
    apply(terraform)
    assert stored(client, state["id"])["ceiling_policies"] == ["default-ceiling"]
    assert_no_changes(terraform)

    # replace: a new display_name is a new registration
    terraform.write("main.tf", hcl(display_name="deploy-bot-2", entity_id=entity))
    assert_plans(terraform, "must be replaced", '~ display_name                   = "deploy-bot" -> "deploy-bot-2"')
    apply(terraform)
    replaced = state_of(terraform)
    assert replaced["id"] != state["id"]
    assert stored(client, state["id"]) is None
    assert stored(client, replaced["id"])["display_name"] == "deploy-bot-2"
    assert_empty_plan(terraform)

    # destroy
    ok(terraform("destroy", "-auto-approve"))
    assert stored(client, replaced["id"]) is None
    assert registration_names(client) == []


def test_drift_deleted_or_changed_out_of_band_is_planned_back(terraform, service, namespace):
    client = service.client(namespace)
    entity = new_entity(client)
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    terraform.write(
        "main.tf",
        hcl(display_name="drifter", entity_id=entity, ceiling_policies=["reader"], description="as declared"),
    )
    ok(terraform("init"))
    apply(terraform)
    reg_id = state_of(terraform)["id"]
    assert plan(terraform).rc == NO_CHANGES

    # changed out of band: shows as an in-place update, and apply puts it back
    resp = client.post(
        f"agent-registry/registration/id/{reg_id}",
        json={"entity_id": entity, "description": "edited by hand", "ceiling_policies": ["admin"]},
    )
    assert resp.status_code == 200, resp.text
    assert_plans(
        terraform,
        "update in-place",
        '~ description                    = "edited by hand" -> "as declared"',
        '~ "admin" -> "reader"',
        absent=("must be replaced",),
    )
    apply(terraform)
    record = stored(client, reg_id)
    assert (record["description"], record["ceiling_policies"]) == (
        "as declared",
        ["reader", "default", "default-ceiling"],
    )

    # deleted out of band: a refresh drops it from state, the next apply registers it again
    assert client.delete(f"agent-registry/registration/id/{reg_id}").status_code == 204
    assert plan(terraform).rc == CHANGES
    apply(terraform, "-refresh-only")
    assert state_of(terraform) is None
    apply(terraform)
    again = state_of(terraform)
    assert again["id"] != reg_id
    assert stored(client, again["id"])["display_name"] == "drifter"
    assert_empty_plan(terraform)


# ---- import -------------------------------------------------------------------------------------------


def test_import_by_display_name_and_by_id_with_the_cli_and_with_import_blocks(terraform, service, namespace):
    client = service.client(namespace)
    named = register(client, "team/agent one", ceiling_policies=["reader"], owner="alice")
    by_id = register(client, "agent-two", description="second", no_default_ceiling_policy=True)
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    terraform.write(
        "main.tf",
        hcl("one", display_name="team/agent one", entity_id=named["entity_id"], ceiling_policies=["reader"],
            owner="alice")
        + hcl("two", display_name="agent-two", entity_id=by_id["entity_id"], description="second",
              no_default_ceiling_policy=True),
    )  # fmt: skip
    ok(terraform("init"))

    # terraform import: by display name (with a slash and a space), and by UUID
    ok(terraform("import", "vault_agent_registration.one", "team/agent one"))
    ok(terraform("import", "vault_agent_registration.two", by_id["id"]))
    assert state_of(terraform, "vault_agent_registration.one")["id"] == named["id"]
    assert state_of(terraform, "vault_agent_registration.two")["ceiling_policies"] == []
    assert_empty_plan(terraform)

    # import blocks with generated configuration: the generated HCL plans with no changes
    ok(terraform("state", "rm", "vault_agent_registration.one", "vault_agent_registration.two"))
    terraform.write(
        "main.tf",
        'import {\n  to = vault_agent_registration.one\n  id = "team/agent one"\n}\n'
        f'import {{\n  to = vault_agent_registration.two\n  id = "{by_id["id"]}"\n}}\n',
    )
    ok(terraform("plan", "-generate-config-out=generated.tf"))
    generated = (terraform.workdir / "generated.tf").read_text()
    assert 'display_name                   = "team/agent one"' in generated
    assert 'ceiling_policies               = ["reader"]' in generated
    assert_plans(terraform, "2 to import, 0 to add, 0 to change, 0 to destroy")
    apply(terraform)
    assert_empty_plan(terraform)
    assert sorted(registration_names(client)) == ["agent-two", "team/agent one"]


def test_import_from_the_namespace_named_by_terraform_vault_namespace_import(terraform, service, namespace):
    client = service.client(namespace)
    record = register(client, "ns-agent", ceiling_policies=["reader"])
    # The provider works in the root namespace; the imported registration gets `namespace`.
    terraform.configure_provider(address=service.url, token=service.root_token)
    terraform.write("main.tf", 'import {\n  to = vault_agent_registration.agent\n  id = "ns-agent"\n}\n')
    ok(terraform("init"))
    env = {"TERRAFORM_VAULT_NAMESPACE_IMPORT": namespace}

    ok(terraform("plan", "-generate-config-out=generated.tf", env=env))
    assert f'namespace                      = "{namespace}"' in (terraform.workdir / "generated.tf").read_text()
    ok(terraform("apply", "-auto-approve", env=env))
    assert state_of(terraform)["id"] == record["id"]
    assert_empty_plan(terraform)  # without the variable: the namespace is in the configuration now

    # terraform import too
    ok(terraform("state", "rm", ADDRESS))
    ok(terraform("import", ADDRESS, record["id"], env=env))
    assert state_of(terraform)["namespace"] == namespace
    assert_empty_plan(terraform)


# ---- failures -----------------------------------------------------------------------------------------


def test_a_taken_display_name_fails_without_adopting_and_converges_after_import(terraform, service, namespace):
    client = service.client(namespace)
    existing = register(client, "taken")
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    config = hcl(display_name="taken", entity_id=existing["entity_id"])
    terraform.write("main.tf", config)
    ok(terraform("init"))

    fails(
        terraform("apply", "-auto-approve"),
        "Unable to create vault_agent_registration",
        f'display_name: "taken" is already used by agent registration "{existing["id"]}"',
        "Import it to manage it with Terraform",
    )
    assert state_of(terraform) is None
    assert stored(client, existing["id"]) == existing  # untouched

    terraform.write("main.tf", config + 'import {\n  to = vault_agent_registration.agent\n  id = "taken"\n}\n')
    apply(terraform)
    assert state_of(terraform)["id"] == existing["id"]
    assert registration_names(client) == ["taken"]
    assert_empty_plan(terraform)

    # an update the service refuses leaves the state as it was; fixing the configuration converges
    terraform.write("main.tf", hcl(display_name="taken", entity_id=existing["entity_id"], owner="x" * 2000))
    fails(terraform("apply", "-auto-approve"), "Unable to update vault_agent_registration", "owner")
    assert state_of(terraform)["owner"] is None
    terraform.write("main.tf", hcl(display_name="taken", entity_id=existing["entity_id"], owner="x"))
    apply(terraform)
    assert stored(client, existing["id"])["owner"] == "x"
    assert_empty_plan(terraform)


def test_service_errors_are_diagnostics_with_the_services_message(terraform, service, namespace):
    client = service.client(namespace)
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    missing = str(uuid.uuid4())
    terraform.write("main.tf", hcl(display_name="orphan", entity_id=missing))
    ok(terraform("init"))

    # 400: the message names the field
    result = fails(
        terraform("apply", "-auto-approve"),
        "Unable to create vault_agent_registration",
        f'entity_id: no identity entity with id "{missing}" in this namespace',
    )
    assert "Traceback" not in result.stderr

    # 403: a token without the right policy
    resp = service.client().post("auth/token/create", json={"policies": ["default"], "ttl": "10m"})
    assert resp.status_code == 200, resp.text
    terraform.configure_provider(
        address=service.url, token=resp.json()["auth"]["client_token"], namespace=namespace, skip_child_token=True
    )
    terraform.write("main.tf", hcl(display_name="denied", entity_id=new_entity(client)))
    fails(terraform("apply", "-auto-approve"), "Unable to create vault_agent_registration", "permission denied")

    # unreachable: the provider reports the connection error when it is configured, before any refresh
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    apply(terraform)
    point_at_unreachable_service(terraform)
    result = fails(terraform("plan"), "Could not reach the server at http://127.0.0.1:", "Connection refused")
    assert "Traceback" not in result.stderr


def test_invalid_configuration_is_reported_at_plan_time_without_the_service(terraform):
    point_at_unreachable_service(terraform)
    terraform.write(
        "main.tf",
        hcl(display_name="", entity_id="e", namespace="/team/")
        + hcl("b", display_name="bad\u0007name", entity_id="", ceiling_policies=["reader", " Root "]),
    )
    ok(terraform("init"))

    for command in ("validate", "plan"):
        result = fails(
            terraform(command),
            "Invalid value for display_name",
            'display_name must not be empty; got ""',
            "Invalid value for namespace",
            "namespace must be a namespace path without leading or trailing '/'",
            "display_name must not contain control characters",
            "Invalid value for entity_id",
            "Invalid value for ceiling_policies[1]",
            'ceiling_policies[1] must not be "root"',
        )
        assert "could not reach" not in result.stderr
        assert "namespace = \"/team/\"" in result.stderr  # Terraform shows the offending line


# ---- data source, PostgreSQL ----------------------------------------------------------------------------


def test_the_data_source_reads_a_registration_by_id_and_by_display_name(terraform, service, namespace):
    client = service.client(namespace)
    record = register(client, "lookup-me", ceiling_policies=["reader"], owner="bob")
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    terraform.write(
        "main.tf",
        f"""
data "vault_agent_registration" "by_name" {{
  display_name = "lookup-me"
}}
data "vault_agent_registration" "by_id" {{
  id = "{record["id"]}"
}}
output "by_name" {{ value = data.vault_agent_registration.by_name }}
output "by_id" {{ value = data.vault_agent_registration.by_id }}
""",
    )
    ok(terraform("init"))
    apply(terraform)

    for name in ("by_name", "by_id"):
        value = terraform.output(name)
        assert value["id"] == record["id"]
        assert value["display_name"] == "lookup-me"
        assert value["entity_id"] == record["entity_id"]
        assert value["owner"] == "bob"
        assert value["ceiling_policies"] == ["reader", "default", "default-ceiling"]

    terraform.write("main.tf", 'data "vault_agent_registration" "x" {\n  display_name = "nobody"\n}\n')
    fails(
        terraform("plan"), "Unable to read vault_agent_registration", 'No agent registration with display_name "nobody"'
    )
    terraform.write("main.tf", 'data "vault_agent_registration" "x" {\n}\n')
    fails(terraform("validate"), "Exactly one of id, display_name must be set")


@pytest.mark.pg
def test_registrations_and_profiles_work_on_postgresql(terraform, service_pg):
    ns = "tfpg" + uuid.uuid4().hex[:8]
    assert service_pg.client().post(f"sys/namespaces/{ns}").status_code == 200
    client = service_pg.client(ns)
    terraform.configure_provider(address=service_pg.url, token=service_pg.root_token, namespace=ns)
    terraform.write(
        "main.tf",
        hcl(display_name="pg-agent", entity_id=new_entity(client), ceiling_policies=["reader"])
        + """
resource "vault_oauth_resource_server_config_profile" "idp" {
  profile_name = "pg-idp"
  issuer_id    = "https://IdP.Example.com/"
  jwks_uri     = "https://idp.example.com/.well-known/jwks.json"
  audiences    = ["api"]
}
""",
    )
    ok(terraform("init"))

    apply(terraform)
    reg_id = state_of(terraform)["id"]
    assert stored(client, reg_id)["display_name"] == "pg-agent"
    profile = client.get("sys/config/oauth-resource-server/pg-idp").json()["data"]
    assert profile["issuer_id"] == "https://idp.example.com"
    assert_empty_plan(terraform)

    ok(terraform("destroy", "-auto-approve"))
    assert stored(client, reg_id) is None
    assert client.get("sys/config/oauth-resource-server/pg-idp").status_code == 404
