"""vault_activation_flags (resource and data source) with the real Terraform CLI against the real service.

The hashicorp/vault provider's profile examples activate `oauth-resource-server` first and make the profile
depend on it; that shape must run unchanged, with the provider set to a namespace (the flags live in root).
"""

from __future__ import annotations

import re

import pytest
from tf_steps import apply, assert_no_changes, fails, ok, point_at_unreachable_service, state_values

pytestmark = pytest.mark.terraform

UPSTREAM_SHAPE = """\
resource "vault_activation_flags" "oauth" {
  feature = "oauth-resource-server"
}

resource "vault_oauth_resource_server_config_profile" "test" {
  depends_on   = [vault_activation_flags.oauth]
  profile_name = "with-flag"
  issuer_id    = "https://example.com"
  use_jwks     = true
  jwks_uri     = "https://example.com/.well-known/jwks.json"
}

data "vault_activation_flags" "current" {}

output "activated" {
  value = data.vault_activation_flags.current.activated_flags
}
"""


def test_the_upstream_profile_shape_applies_imports_and_destroys(terraform, service, namespace):
    client = service.client(namespace)
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    terraform.write("main.tf", UPSTREAM_SHAPE)
    ok(terraform("init"))

    apply(terraform)
    assert state_values(terraform, "vault_activation_flags.oauth") == {
        "feature": "oauth-resource-server",
        "id": "oauth-resource-server",
    }
    assert terraform.output("activated") == ["oauth-resource-server"]
    assert client.get("sys/config/oauth-resource-server/with-flag").status_code == 200
    assert_no_changes(terraform)

    # terraform import by feature name, then an import {} block with generated configuration
    ok(terraform("state", "rm", "vault_activation_flags.oauth"))
    ok(terraform("import", "vault_activation_flags.oauth", "oauth-resource-server"))
    assert_no_changes(terraform)
    ok(terraform("state", "rm", "vault_activation_flags.oauth"))
    flag_block = 'resource "vault_activation_flags" "oauth" {\n  feature = "oauth-resource-server"\n}\n'
    import_block = 'import {\n  to = vault_activation_flags.oauth\n  id = "oauth-resource-server"\n}\n'
    # (the generated block does not exist yet when the plan generates it, so nothing may refer to it)
    depends_on = "  depends_on   = [vault_activation_flags.oauth]\n"
    without_flag = UPSTREAM_SHAPE.replace(flag_block, import_block).replace(depends_on, "")
    terraform.write("main.tf", without_flag)
    ok(terraform("plan", "-generate-config-out=generated.tf"))
    generated = (terraform.workdir / "generated.tf").read_text()
    assert re.search(r'feature\s*=\s*"oauth-resource-server"', generated), generated
    apply(terraform)
    assert state_values(terraform, "vault_activation_flags.oauth")["feature"] == "oauth-resource-server"
    assert_no_changes(terraform)

    # destroy forgets the flag, with a warning; activation cannot be undone
    result = ok(terraform("destroy", "-auto-approve"))
    assert "Activation flag remains active" in result.stdout + result.stderr
    flags = service.client().get("sys/activation-flags").json()["data"]
    assert flags["activated"] == ["oauth-resource-server"]


def test_a_feature_the_service_does_not_have_fails_at_plan_time_without_the_service(terraform, service, namespace):
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    terraform.write("main.tf", 'resource "vault_activation_flags" "f" {\n  feature = "secrets-sync"\n}\n')
    ok(terraform("init"))
    point_at_unreachable_service(terraform)

    for command in (("validate",), ("plan",)):
        result = fails(
            terraform(*command),
            "Invalid value for feature",
            'must be an activation flag of the service ("oauth-resource-server"); got "secrets-sync"',
        )
        assert "could not reach" not in result.stderr
