"""vault_namespace with the real Terraform CLI against the real service: the standard acceptance steps."""

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


def config(child_metadata: str = "", grandchild: str = "gc") -> str:
    return (
        'resource "vault_namespace" "child" {\n  path = "child"\n'
        f"{child_metadata}\n}}\n\n"
        'resource "vault_namespace" "grandchild" {\n'
        "  namespace = vault_namespace.child.path\n"
        f'  path      = "{grandchild}"\n}}\n'
    )


def stored(service, parent: str, name: str) -> dict | None:
    resp = service.client(parent).get(f"sys/namespaces/{name}")
    if resp.status_code == 404:
        return None
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def test_a_namespace_goes_through_create_update_replace_drift_import_and_destroy(terraform, service, namespace):
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    terraform.write("main.tf", config('  custom_metadata = { owner = "platform" }'))
    ok(terraform("init"))

    # create, one level at a time
    apply(terraform)
    child = stored(service, namespace, "child")
    assert (child["path"], child["custom_metadata"]) == (f"{namespace}/child/", {"owner": "platform"})
    grandchild = stored(service, f"{namespace}/child", "gc")
    state = state_values(terraform, "vault_namespace.grandchild")
    assert state["id"] == f"{namespace}/child/gc/"
    assert (state["path_fq"], state["namespace_id"]) == ("child/gc", grandchild["id"])
    assert state_values(terraform, "vault_namespace.child")["path_fq"] == "child"
    assert_no_changes(terraform)

    # update in place
    terraform.write("main.tf", config('  custom_metadata = { owner = "security", tier = "0" }'))
    assert_plans(terraform, "update in-place", absent=("must be replaced",))
    apply(terraform)
    assert stored(service, namespace, "child")["custom_metadata"] == {"owner": "security", "tier": "0"}
    assert_empty_plan(terraform)

    # a new path replaces the namespace
    terraform.write("main.tf", config('  custom_metadata = { owner = "security", tier = "0" }', grandchild="gc2"))
    assert_plans(terraform, "must be replaced")
    apply(terraform)
    assert stored(service, f"{namespace}/child", "gc") is None
    assert stored(service, f"{namespace}/child", "gc2") is not None
    assert_empty_plan(terraform)

    # drift: changed out of band, then deleted out of band
    client = service.client(namespace)
    assert client.post("sys/namespaces/child", json={"custom_metadata": {"owner": "eve"}}).status_code == 200
    assert_plans(terraform, '"owner" = "eve" -> "security"')
    apply(terraform)
    assert stored(service, namespace, "child")["custom_metadata"] == {"owner": "security", "tier": "0"}
    assert service.client(f"{namespace}/child").delete("sys/namespaces/gc2").status_code == 204
    assert_plans(terraform, "will be created")
    apply(terraform)
    assert stored(service, f"{namespace}/child", "gc2") is not None

    # terraform import by path (`parent/name` for a nested one), and an import {} block
    ok(terraform("state", "rm", "vault_namespace.grandchild"))
    ok(terraform("import", "vault_namespace.grandchild", "child/gc2"))
    assert_empty_plan(terraform)
    ok(terraform("state", "rm", "vault_namespace.child"))
    terraform.write("imports.tf", 'import {\n  to = vault_namespace.child\n  id = "child"\n}\n')
    assert_plans(terraform, "1 to import, 0 to add, 0 to change, 0 to destroy")
    apply(terraform)
    assert_empty_plan(terraform)
    (terraform.workdir / "imports.tf").unlink()

    # creating over an existing namespace is refused rather than adopting it
    assert client.post("sys/namespaces/taken").status_code == 200
    terraform.write("taken.tf", 'resource "vault_namespace" "taken" {\n  path = "taken"\n}\n')
    fails(terraform("apply", "-auto-approve"), 'Namespace "taken" already exists', "terraform import")
    (terraform.workdir / "taken.tf").unlink()

    # destroy, and both are gone
    ok(terraform("destroy", "-auto-approve"))
    assert stored(service, namespace, "child") is None

    # plan-time validation, with the service unreachable
    point_at_unreachable_service(terraform)
    for path, message in [
        ("a/b", "is not a valid namespace name"),
        ("-x", "is not a valid namespace name"),
        ("sys", "is a reserved name"),
    ]:
        terraform.write("main.tf", f'resource "vault_namespace" "n" {{\n  path = "{path}"\n}}\n')
        fails(terraform("plan"), "Invalid value for path", message)
    terraform.write("main.tf", 'resource "vault_namespace" "n" {\n  path = "x"\n  namespace = "a//b"\n}\n')
    fails(terraform("validate"), "Invalid value for namespace")


TEAM = """
resource "vault_namespace" "team" {
  path = "team"
}

resource "vault_policy" "reader" {
  namespace = vault_namespace.team.path_fq
  name      = "reader"
  policy    = <<-EOT
    path "secret/data/team/*" {
      capabilities = ["read"]
    }
  EOT
}

resource "vault_identity_entity" "svc" {
  namespace = vault_namespace.team.path_fq
  name      = "svc"
  policies  = [vault_policy.reader.name]
}
"""


def test_a_namespace_with_a_policy_and_an_entity_is_created_and_destroyed_together(terraform, service, namespace):
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    terraform.write("main.tf", TEAM)
    ok(terraform("init"))

    apply(terraform)
    team = service.client(f"{namespace}/team")
    entity = team.get("identity/entity/name/svc").json()["data"]
    assert entity["policies"] == ["reader"]
    assert "secret/data/team/*" in team.get("sys/policies/acl/reader").json()["data"]["policy"]
    assert_empty_plan(terraform)

    # Terraform deletes the entity and the policy before the namespace, which must be empty to go
    ok(terraform("destroy", "-auto-approve"))
    assert stored(service, namespace, "team") is None
