"""After importing any resource by any of its ID forms, the whole configuration plans empty.

The server stores some values normalized (policy names lowercased, an issuer without its trailing `/`); an
import reads the server's spelling while the configuration may hold another. The configuration below is
written the way users write it (mixed case, a trailing `/`, unsorted lists) and wires resources together
by reference, so a respelled value in one resource's state would show as a change in the resources that
refer to it.
"""

from __future__ import annotations

import pytest
from tf_steps import NO_CHANGES, _shown, apply, assert_empty_plan, ok, plan, state_values

pytestmark = pytest.mark.terraform

CONFIG = """\
resource "vault_namespace" "team" {
  path = "Team-J"
}

resource "vault_policy" "ceiling" {
  namespace = vault_namespace.team.path_fq
  name      = "Ceiling-J"
  policy    = "path \\"secret/data/j/*\\" { capabilities = [\\"read\\"] }"
}

resource "vault_oauth_resource_server_config_profile" "idp" {
  namespace            = vault_namespace.team.path_fq
  profile_name         = "idp"
  issuer_id            = "https://Issuer.Example/"
  jwks_uri             = "https://issuer.example/.well-known/jwks.json"
  audiences            = ["b", "a"]
  supported_algorithms = ["RS256", "ES256"]
}

resource "vault_identity_entity" "human" {
  namespace = vault_namespace.team.path_fq
  name      = "Human-J"
  policies  = [vault_policy.ceiling.name]
  metadata  = { team = "j" }
}

resource "vault_identity_entity_alias" "human" {
  namespace    = vault_namespace.team.path_fq
  name         = "human-j"
  canonical_id = vault_identity_entity.human.id
  issuer       = vault_oauth_resource_server_config_profile.idp.issuer_id
  external_id  = "human-j"
}

resource "vault_agent_registration" "agent" {
  namespace        = vault_namespace.team.path_fq
  display_name     = "Agent-J"
  entity_id        = vault_identity_entity.human.id
  ceiling_policies = [vault_policy.ceiling.name]
}

output "referenced" {
  value = [vault_identity_entity_alias.human.issuer, vault_agent_registration.agent.ceiling_policies]
}
"""

# (address, attribute of the state whose value is the import ID, or a literal ID); the namespace ones are
# relative to the provider's namespace, the others live in Team-J.
IMPORTS = [
    ("vault_policy.ceiling", "ceiling-j"),  # the server's spelling, not the configuration's
    ("vault_oauth_resource_server_config_profile.idp", "idp"),
    ("vault_oauth_resource_server_config_profile.idp", "@config_id"),
    ("vault_identity_entity.human", "@id"),
    ("vault_identity_entity_alias.human", "@id"),
    ("vault_agent_registration.agent", "Agent-J"),
    ("vault_agent_registration.agent", "@id"),
    ("vault_namespace.team", "Team-J"),
]


def _import(terraform, address: str, import_id: str) -> None:
    namespace = "" if address.startswith("vault_namespace.") else "Team-J"
    ok(terraform("import", address, import_id, env={"TERRAFORM_VAULT_NAMESPACE_IMPORT": namespace}))


def _assert_plans_empty(terraform, why: str) -> None:
    result = plan(terraform)
    assert result.rc == NO_CHANGES, f"after {why}\n{_shown(result)}"


def test_every_import_leaves_the_whole_configuration_planning_empty(terraform, service, namespace):
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    terraform.write("main.tf", CONFIG)
    ok(terraform("init"))
    apply(terraform)
    assert_empty_plan(terraform)

    for address, id_form in IMPORTS:
        import_id = state_values(terraform, address)[id_form[1:]] if id_form.startswith("@") else id_form
        ok(terraform("state", "rm", address))
        _import(terraform, address, import_id)
        _assert_plans_empty(terraform, f"importing {address} by {import_id!r}")

    # everything at once, from an empty state
    ids = {address: state_values(terraform, address)["id"] for address, _ in IMPORTS}
    (terraform.workdir / "terraform.tfstate").unlink()
    for address, import_id in ids.items():
        _import(terraform, address, "Team-J" if address == "vault_namespace.team" else import_id)
    _assert_plans_empty(terraform, "importing every resource into an empty state")

    ok(terraform("destroy", "-auto-approve"))
