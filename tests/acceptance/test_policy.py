"""vault_policy with the real Terraform CLI against the real service: the standard acceptance steps."""

from __future__ import annotations

import re

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

READER = """\
path "secret/data/app/*" {
  capabilities = ["read", "list"]
}
"""

WRITER = """\
# writers may also update
path "secret/data/app/*" {
  capabilities = ["create", "read", "update"]
}
"""


def policy_hcl(name: str, text: str) -> str:
    return f'resource "vault_policy" "p" {{\n  name   = "{name}"\n  policy = <<-EOT\n{text}  EOT\n}}\n'


def stored_text(client, name: str) -> str | None:
    resp = client.get(f"sys/policies/acl/{name}")
    if resp.status_code == 404:
        return None
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]["policy"]


def test_a_policy_goes_through_create_update_replace_drift_import_and_destroy(terraform, service, namespace):
    client = service.client(namespace)
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    terraform.write("main.tf", policy_hcl("App-Reader", READER))
    ok(terraform("init"))

    # create: the server keeps the text byte for byte, and the name lowercased; state keeps the config's name
    apply(terraform)
    assert stored_text(client, "app-reader") == READER
    assert state_values(terraform, "vault_policy.p")["name"] == "App-Reader"
    assert state_values(terraform, "vault_policy.p")["id"] == "app-reader"
    assert_no_changes(terraform)

    # update in place
    terraform.write("main.tf", policy_hcl("App-Reader", WRITER))
    assert_plans(terraform, "update in-place")
    apply(terraform)
    assert stored_text(client, "app-reader") == WRITER
    assert_empty_plan(terraform)

    # a new name replaces the policy
    terraform.write("main.tf", policy_hcl("app-writer", WRITER))
    assert_plans(terraform, "must be replaced")
    apply(terraform)
    assert stored_text(client, "app-reader") is None
    assert stored_text(client, "app-writer") == WRITER

    # drift: changed out of band, then deleted out of band
    assert client.post("sys/policies/acl/app-writer", json={"policy": READER}).status_code in (200, 204)
    assert_plans(terraform, "update in-place")
    apply(terraform)
    assert stored_text(client, "app-writer") == WRITER
    assert client.delete("sys/policies/acl/app-writer").status_code == 204
    assert_plans(terraform, "will be created")
    apply(terraform)
    assert stored_text(client, "app-writer") == WRITER

    # terraform import by name, then the plan is empty
    ok(terraform("state", "rm", "vault_policy.p"))
    ok(terraform("import", "vault_policy.p", "app-writer"))
    assert_empty_plan(terraform)

    # an import {} block with generated configuration, then the plan is empty
    ok(terraform("state", "rm", "vault_policy.p"))
    terraform.write("main.tf", 'import {\n  to = vault_policy.p\n  id = "app-writer"\n}\n')
    ok(terraform("plan", "-generate-config-out=generated.tf"))
    generated = (terraform.workdir / "generated.tf").read_text()
    assert re.search(r'name\s*=\s*"app-writer"', generated), generated
    apply(terraform)
    assert_empty_plan(terraform)

    # destroy, and it is gone
    ok(terraform("destroy", "-auto-approve"))
    assert stored_text(client, "app-writer") is None


def test_an_invalid_policy_fails_at_plan_time_with_the_parsers_message(terraform, service, namespace):
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    terraform.write("main.tf", policy_hcl("ok", READER))
    ok(terraform("init"))
    point_at_unreachable_service(terraform)

    terraform.write("main.tf", policy_hcl("bad", 'path "secret/*" {\n  capabilities = ["reed"]\n}\n'))
    for command in (("validate",), ("plan",)):
        result = fails(terraform(*command), "Invalid value for policy", 'unknown capability "reed"')
        assert "could not reach" not in result.stderr
    # the error points at the attribute
    assert "policy = <<-EOT" in terraform("validate").stderr

    terraform.write("main.tf", policy_hcl("bad", 'path "secret/*" {\n  capabilities = ["read"]\n'))
    fails(terraform("validate"), "failed to parse policy")

    terraform.write("main.tf", policy_hcl("root", READER))
    fails(terraform("validate"), "Invalid value for name", "root policy is built in")
    terraform.write("main.tf", policy_hcl("no spaces", READER))
    fails(terraform("plan"), "Invalid value for name", "is not a valid policy name")
    terraform.write("main.tf", 'resource "vault_policy" "p" {\n  name   = "p"\n  policy = "  "\n}\n')
    fails(terraform("validate"), "Invalid value for policy", "must not be empty")
