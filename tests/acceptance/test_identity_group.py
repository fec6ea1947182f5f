"""vault_identity_group and its companions with the real Terraform CLI against the real service: groups made
with for_each and nested, drift, import, exclusive and shared member lists, group aliases on a profile's
mount accessor, the data source, and plan-time validation."""

from __future__ import annotations

import pytest
from tf_steps import (
    apply,
    assert_empty_plan,
    assert_plans,
    data_values,
    fails,
    instances,
    ok,
    point_at_unreachable_service,
    state_values,
)

pytestmark = pytest.mark.terraform

TEAMS = """
resource "vault_identity_entity" "people" {
  for_each = toset(["alice", "bob"])
  name     = each.key
}

resource "vault_identity_group" "teams" {
  for_each          = { payments = "alice", risk = "bob" }
  name              = each.key
  policies          = ["${each.key}-reader", "Default"]
  member_entity_ids = [vault_identity_entity.people[each.value].id]
  metadata          = { team = each.key }
}

resource "vault_identity_group" "engineering" {
  name             = "engineering"
  policies         = ["engineering-common"]
  member_group_ids = [for team in vault_identity_group.teams : team.id]
}
"""


def stored(client, group_id):  # noqa: ANN001, ANN201
    resp = client.get(f"identity/group/id/{group_id}")
    if resp.status_code == 404:
        return None
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def test_groups_for_each_nested_go_through_drift_import_and_destroy(terraform, service, namespace):
    client = service.client(namespace)
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    terraform.write("main.tf", TEAMS)
    ok(terraform("init"))
    apply(terraform)
    payments = instances(terraform, "vault_identity_group.teams")["payments"]
    engineering = state_values(terraform, "vault_identity_group.engineering")
    alice = instances(terraform, "vault_identity_entity.people")["alice"]["id"]
    data = stored(client, payments["id"])
    assert (data["type"], sorted(data["policies"]), data["metadata"]) == (
        "internal", ["default", "payments-reader"], {"team": "payments"})  # fmt: skip
    assert data["member_entity_ids"] == [alice] and data["parent_group_ids"] == [engineering["id"]]
    teams = instances(terraform, "vault_identity_group.teams")
    assert sorted(stored(client, engineering["id"])["member_group_ids"]) == sorted(t["id"] for t in teams.values())
    entity = client.get(f"identity/entity/id/{alice}").json()["data"]
    assert entity["direct_group_ids"] == [payments["id"]] and entity["inherited_group_ids"] == [engineering["id"]]
    assert_empty_plan(terraform)

    # drift: a member added and a policy removed out of band are put back
    bob = instances(terraform, "vault_identity_entity.people")["bob"]["id"]
    resp = client.post(f"identity/group/id/{payments['id']}", json={"member_entity_ids": [alice, bob], "policies": []})
    assert resp.status_code == 200
    assert_plans(terraform, "update in-place")
    apply(terraform)
    data = stored(client, payments["id"])
    assert data["member_entity_ids"] == [alice] and sorted(data["policies"]) == ["default", "payments-reader"]
    assert_empty_plan(terraform)

    # import by id, then an empty plan
    ok(terraform("state", "rm", "vault_identity_group.engineering"))
    ok(terraform("import", "vault_identity_group.engineering", engineering["id"]))
    assert_empty_plan(terraform)

    # a membership cycle is refused by the server, naming the rule
    terraform.write("cycle.tf", '''
resource "vault_identity_group" "loop" {
  name             = "loop"
  member_group_ids = [vault_identity_group.engineering.id]
}
resource "vault_identity_group_member_group_ids" "loop" {
  group_id         = vault_identity_group.teams["risk"].id
  member_group_ids = [vault_identity_group.loop.id]
  exclusive        = false
}
''')
    fails(terraform("apply", "-auto-approve"), "membership cycle is not allowed")
    (terraform.workdir / "cycle.tf").unlink()
    apply(terraform)

    ok(terraform("destroy", "-auto-approve"))
    assert stored(client, payments["id"]) is None and stored(client, engineering["id"]) is None


MEMBERS = """
resource "vault_identity_entity" "people" {
  for_each = toset(["alice", "bob", "carol"])
  name     = each.key
}

resource "vault_identity_group" "oncall" {
  name                       = "oncall"
  external_member_entity_ids = true
  external_policies          = true
}

resource "vault_identity_group_member_entity_ids" "core" {
  group_id          = vault_identity_group.oncall.id
  member_entity_ids = [vault_identity_entity.people["alice"].id]
  exclusive         = %(exclusive)s
}
%(extra)s
"""
SHARED = """
resource "vault_identity_group_member_entity_ids" "extra" {
  group_id          = vault_identity_group.oncall.id
  member_entity_ids = [vault_identity_entity.people["bob"].id]
  exclusive         = false
}

resource "vault_identity_group_policies" "base" {
  group_id  = vault_identity_group.oncall.id
  policies  = ["Base"]
  exclusive = false
}

resource "vault_identity_group_policies" "audit" {
  group_id  = vault_identity_group.oncall.id
  policies  = ["audit"]
  exclusive = false
}
"""


def test_exclusive_and_shared_member_lists(terraform, service, namespace):
    client = service.client(namespace)
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    terraform.write("main.tf", MEMBERS % {"exclusive": "true", "extra": ""})
    ok(terraform("init"))
    apply(terraform)
    group_id = state_values(terraform, "vault_identity_group.oncall")["id"]
    ids = {key: person["id"] for key, person in instances(terraform, "vault_identity_entity.people").items()}
    assert stored(client, group_id)["member_entity_ids"] == [ids["alice"]]
    assert state_values(terraform, "vault_identity_group_member_entity_ids.core")["id"] == group_id

    # exclusive: a member added out of band is drift, and removed again
    client.post(f"identity/group/id/{group_id}", json={"member_entity_ids": [ids["alice"], ids["carol"]]})
    assert_plans(terraform, "update in-place")
    apply(terraform)
    assert stored(client, group_id)["member_entity_ids"] == [ids["alice"]]

    # import by the group's id
    ok(terraform("state", "rm", "vault_identity_group_member_entity_ids.core"))
    ok(terraform("import", "vault_identity_group_member_entity_ids.core", group_id))
    assert_empty_plan(terraform)

    # not exclusive: resources share the group and each removes only its own values
    terraform.write("main.tf", MEMBERS % {"exclusive": "false", "extra": SHARED})
    apply(terraform)
    client.post(f"identity/group/id/{group_id}", json={"member_entity_ids": sorted([*ids.values()])})
    assert_empty_plan(terraform)  # carol, added out of band, is nobody's business here
    data = stored(client, group_id)
    assert sorted(data["policies"]) == ["audit", "base"]
    assert state_values(terraform, "vault_identity_group_policies.base")["group_name"] == "oncall"
    ok(terraform("destroy", "-auto-approve", "-target=vault_identity_group_member_entity_ids.extra",
                 "-target=vault_identity_group_policies.audit"))  # fmt: skip
    data = stored(client, group_id)
    assert sorted(data["member_entity_ids"]) == sorted([ids["alice"], ids["carol"]])
    assert data["policies"] == ["base"]
    ok(terraform("destroy", "-auto-approve"))


ALIAS = """
resource "vault_oauth_resource_server_config_profile" "corp" {
  profile_name = "corp-idp"
  issuer_id    = "https://login.example.com/tenant"
  jwks_uri     = "https://login.example.com/tenant/.well-known/jwks.json"
  groups_claim = "groups"
}

resource "vault_identity_group" "developers" {
  name     = "idp-developers"
  type     = "external"
  policies = ["developer"]
}

resource "vault_identity_group_alias" "developers" {
  name           = "%(name)s"
  mount_accessor = vault_oauth_resource_server_config_profile.corp.mount_accessor
  canonical_id   = vault_identity_group.developers.id
}

data "vault_identity_group" "by_alias" {
  alias_name           = vault_identity_group_alias.developers.name
  alias_mount_accessor = vault_identity_group_alias.developers.mount_accessor
}
"""


def test_a_group_alias_on_the_profiles_accessor_and_the_data_source(terraform, service, namespace):
    client = service.client(namespace)
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    terraform.write("main.tf", ALIAS % {"name": "developers"})
    ok(terraform("init"))
    apply(terraform)
    profile = client.get("sys/config/oauth-resource-server/corp-idp").json()["data"]
    assert profile["groups_claim"] == "groups"
    alias = state_values(terraform, "vault_identity_group_alias.developers")
    group_id = state_values(terraform, "vault_identity_group.developers")["id"]
    assert alias["mount_accessor"] == profile["mount_accessor"]
    read = client.get(f"identity/group-alias/id/{alias['id']}").json()["data"]
    assert (read["name"], read["canonical_id"]) == ("developers", group_id)
    found = data_values(terraform, "data.vault_identity_group.by_alias")
    assert (found["group_id"], found["group_name"], found["type"]) == (group_id, "idp-developers", "external")
    assert found["policies"] == ["developer"] and found["alias_canonical_id"] == group_id
    assert_empty_plan(terraform)

    terraform.write("main.tf", ALIAS % {"name": "engineers"})
    assert_plans(terraform, "update in-place")
    apply(terraform)
    assert client.get(f"identity/group-alias/id/{alias['id']}").json()["data"]["name"] == "engineers"

    ok(terraform("state", "rm", "vault_identity_group_alias.developers"))
    ok(terraform("import", "vault_identity_group_alias.developers", alias["id"]))
    assert_empty_plan(terraform)
    ok(terraform("destroy", "-auto-approve"))
    assert client.get(f"identity/group-alias/id/{alias['id']}").status_code == 404


def test_plan_time_validation(terraform, service, namespace):
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    ok(terraform("init"))
    point_at_unreachable_service(terraform)
    terraform.write("main.tf", 'resource "vault_identity_group" "g" {\n  name = "g"\n  type = "team"\n}\n')
    fails(terraform("validate"), "Invalid value for type")
    terraform.write("main.tf", 'resource "vault_identity_group" "g" {\n  type = "external"\n'
                    '  member_entity_ids = ["e"]\n}\n')  # fmt: skip
    fails(terraform("validate"), "member_entity_ids must not be set on an external group")
    terraform.write("main.tf", 'resource "vault_identity_group" "g" {\n  external_member_group_ids = true\n'
                    '  member_group_ids = ["g"]\n}\n')  # fmt: skip
    fails(terraform("validate"), "member_group_ids must not be set when external_member_group_ids is true")
    terraform.write("main.tf", 'resource "vault_identity_group_policies" "p" {\n  group_id = "g"\n'
                    '  policies = ["root"]\n}\n')  # fmt: skip
    fails(terraform("validate"), "root policy cannot be attached")
