"""vault_identity_entity with the real Terraform CLI against the real service: the standard acceptance steps."""

from __future__ import annotations

import pytest
from tf_steps import (
    apply,
    assert_empty_plan,
    assert_no_changes,
    assert_plans,
    fails,
    ok,
    point_at_unreachable_service,
    state_values,
)

pytestmark = pytest.mark.terraform


def entity_hcl(body: str) -> str:
    return f'resource "vault_identity_entity" "e" {{\n{body}\n}}\n'


def stored(client, entity_id: str) -> dict | None:
    resp = client.get(f"identity/entity/id/{entity_id}")
    if resp.status_code == 404:
        return None
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def test_an_entity_goes_through_create_update_replace_drift_import_and_destroy(terraform, service, namespace):
    client = service.client(namespace)
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    terraform.write(
        "main.tf",
        entity_hcl('  name     = "app-1"\n  policies = ["Reader", "default"]\n  metadata = { team = "payments" }'),
    )
    ok(terraform("init"))

    # create: policies are stored lowercased, state keeps the configuration's spelling
    apply(terraform)
    state = state_values(terraform, "vault_identity_entity.e")
    entity_id = state["id"]
    data = stored(client, entity_id)
    assert data["name"] == "app-1"
    assert sorted(data["policies"]) == ["default", "reader"]
    assert data["metadata"] == {"team": "payments"}
    assert data["disabled"] is False
    assert sorted(state["policies"]) == ["Reader", "default"]
    assert_no_changes(terraform)

    # update in place
    terraform.write(
        "main.tf",
        entity_hcl(
            '  name     = "app-1"\n  policies = ["reader"]\n  metadata = { team = "risk", tier = "1" }\n'
            "  disabled = true"
        ),
    )
    assert_plans(terraform, "update in-place")
    apply(terraform)
    data = stored(client, entity_id)
    assert data["policies"] == ["reader"]
    assert data["metadata"] == {"team": "risk", "tier": "1"}
    assert data["disabled"] is True
    assert_empty_plan(terraform)

    # removing optional arguments clears them on the server (entity updates are merges there)
    terraform.write("main.tf", entity_hcl('  name = "app-1"'))
    assert_plans(terraform, "update in-place")
    apply(terraform)
    data = stored(client, entity_id)
    assert (data["policies"], data["metadata"] or {}, data["disabled"]) == ([], {}, False)
    assert_empty_plan(terraform)

    # drift: changed out of band, then deleted out of band
    terraform.write("main.tf", entity_hcl('  name = "app-1"\n  metadata = { a = "b" }'))
    apply(terraform)
    assert client.post(f"identity/entity/id/{entity_id}", json={"metadata": {"a": "z"}}).status_code == 200
    assert_plans(terraform, "update in-place", '"a" = "z" -> "b"')
    apply(terraform)
    assert stored(client, entity_id)["metadata"] == {"a": "b"}
    assert client.delete(f"identity/entity/id/{entity_id}").status_code == 204
    assert_plans(terraform, "will be created")
    apply(terraform)
    entity_id = state_values(terraform, "vault_identity_entity.e")["id"]
    assert stored(client, entity_id)["metadata"] == {"a": "b"}

    # terraform import by id, and an import {} block; the plan is empty after each
    ok(terraform("state", "rm", "vault_identity_entity.e"))
    ok(terraform("import", "vault_identity_entity.e", entity_id))
    assert_empty_plan(terraform)
    ok(terraform("state", "rm", "vault_identity_entity.e"))
    terraform.write("imports.tf", f'import {{\n  to = vault_identity_entity.e\n  id = "{entity_id}"\n}}\n')
    assert_plans(terraform, "1 to import, 0 to add, 0 to change, 0 to destroy")
    apply(terraform)
    assert_empty_plan(terraform)
    (terraform.workdir / "imports.tf").unlink()

    # external_policies: policies set elsewhere are neither read nor overwritten
    terraform.write("main.tf", entity_hcl('  name = "app-1"\n  metadata = { a = "b" }\n  external_policies = true'))
    apply(terraform)
    assert client.post(f"identity/entity/id/{entity_id}", json={"policies": ["ops"]}).status_code == 200
    assert_empty_plan(terraform)

    # a different namespace replaces the entity
    assert client.post("sys/namespaces/team").status_code == 200
    terraform.write(
        "main.tf",
        entity_hcl('  name = "app-1"\n  metadata = { a = "b" }\n  external_policies = true\n  namespace = "team"'),
    )
    assert_plans(terraform, "must be replaced")
    apply(terraform)
    assert stored(client, entity_id) is None
    moved_id = state_values(terraform, "vault_identity_entity.e")["id"]
    assert stored(service.client(f"{namespace}/team"), moved_id)["name"] == "app-1"
    assert_empty_plan(terraform)

    # destroy, and it is gone
    ok(terraform("destroy", "-auto-approve"))
    assert stored(service.client(f"{namespace}/team"), moved_id) is None

    # plan-time validation, with the service unreachable
    point_at_unreachable_service(terraform)
    terraform.write("main.tf", entity_hcl('  name = " "'))
    fails(terraform("plan"), "Invalid value for name", "name must not be empty")
    terraform.write("main.tf", entity_hcl('  name = "x"\n  policies = ["ROOT"]'))
    fails(terraform("plan"), "Invalid value for policies", "root policy cannot be attached")
    terraform.write("main.tf", entity_hcl('  name = "x"\n  policies = ["a"]\n  external_policies = true'))
    fails(terraform("validate"), "policies must not be set when external_policies is true")
    terraform.write("main.tf", entity_hcl('  name = "x"\n  namespace = "/team/"'))
    fails(terraform("validate"), "Invalid value for namespace", "without leading or trailing '/'")
