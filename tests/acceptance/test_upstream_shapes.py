"""The hashicorp/vault provider's configurations, shape by shape, through the real Terraform CLI.

For every resource and data source this provider ships, the upstream provider's documented examples
(website/docs) and acceptance configurations (internal/vault/sys/*_test.go, vault/*_test.go) were read for
their shapes: which attributes, in which combinations, which import ID forms, which `depends_on`, which
namespace use and which update sequences. Each shape is written here anew (facts carry over, text does
not) and driven as the upstream test drives it: apply, plan empty, the update steps, import by the same
ID form with plan empty, destroy. Shapes of one resource type share one working directory, so a run stays
short. Where this provider differs on purpose (docs/compatibility.md), the test asserts the exact message
a user sees. Each shape's comment names its upstream source.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from test_oauth_profile import ca_certificate_pem, public_pem
from tf_steps import apply, assert_empty_plan, data_values, fails, instances, ok, state_values

pytestmark = pytest.mark.terraform


# ---- helpers ------------------------------------------------------------------------------------------


def import_blocks(ids: dict[str, str]) -> str:
    """`import {}` blocks, one per address, each with its ID."""
    return "".join(f'import {{\n  to = {to}\n  id = "{id_}"\n}}\n' for to, id_ in ids.items())


def reimport(terraform: Any, ids: dict[str, str], *, in_namespace: tuple[str, str, str] | None = None) -> None:
    """Forget `ids` (and `in_namespace`) in state, import them again by the given IDs, and plan empty.

    `in_namespace` is (address, ID, namespace): imported with `terraform import` and
    `TERRAFORM_VAULT_NAMESPACE_IMPORT`, as the upstream tests of namespaced objects do; the rest with
    `import {}` blocks in one apply.
    """
    addresses = list(ids) + ([in_namespace[0]] if in_namespace else [])
    ok(terraform("state", "rm", *addresses))
    if in_namespace:
        address, id_, namespace = in_namespace
        ok(terraform("import", address, id_, env={"TERRAFORM_VAULT_NAMESPACE_IMPORT": namespace}))
    terraform.write("imports.tf", import_blocks(ids))
    result = apply(terraform)
    assert f"{len(ids)} imported, 0 added, 0 changed, 0 destroyed" in result.stdout, result.stdout
    (terraform.workdir / "imports.tf").unlink()
    assert_empty_plan(terraform)


def fill(template: str, values: dict[str, str]) -> str:
    """`template` with each `@MARKER@` replaced by its value (HCL's own `${}` and braces stay as written)."""
    for marker, value in values.items():
        template = template.replace(marker, value)
    return template


def start(terraform: Any, service: Any, namespace: str, main: str) -> None:
    """Provider set to the test's namespace, `main.tf` written, `terraform init` run."""
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    terraform.write("main.tf", main)
    ok(terraform("init"))


# ---- vault_agent_registration -------------------------------------------------------------------------
# Upstream: website/docs/r/agent_registration.html.md (every example) and
# internal/vault/sys/agent_registration_resource_test.go (every TestAccAgentRegistration_* test).

REGISTRATIONS_FIXED = """\
# docs "with ceiling policies": a two-path ceiling policy, and a description
resource "vault_policy" "agent_ceiling" {
  name   = "agent-ceiling-policy"
  policy = <<EOT
path "secret/data/*" {
  capabilities = ["read"]
}

path "auth/token/renew-self" {
  capabilities = ["update"]
}
EOT
}

# docs "multiple ceiling policies" and _multiplePolicies: two policies, both in the ceiling
resource "vault_policy" "secrets_read" {
  name   = "secrets-read"
  policy = <<EOT
path "secret/*" {
  capabilities = ["read"]
}
EOT
}

resource "vault_policy" "auth_renew" {
  name   = "auth-renew"
  policy = <<EOT
path "auth/*" {
  capabilities = ["read"]
}
EOT
}

# _basic (docs "basic"): an entity with the default policy, a registration naming it
resource "vault_identity_entity" "basic" {
  name     = "basic-agent-entity"
  policies = ["default"]
}

resource "vault_agent_registration" "basic" {
  display_name = "basic-agent"
  entity_id    = vault_identity_entity.basic.id
}

# _importByID: the same shape, imported by its UUID
resource "vault_identity_entity" "by_id" {
  name     = "by-id-agent-entity"
  policies = ["default"]
}

resource "vault_agent_registration" "by_id" {
  display_name = "by-id-agent"
  entity_id    = vault_identity_entity.by_id.id
}

# _importByIDSlashDisplayName: "/" in display_name (not in the entity's name), imported by UUID
resource "vault_identity_entity" "slashes" {
  name     = "slashes-entity"
  policies = ["default"]
}

resource "vault_agent_registration" "slashes" {
  display_name = "slash-agent/with/slashes"
  entity_id    = vault_identity_entity.slashes.id
}

# _withPolicies and docs "with ceiling policies"
resource "vault_identity_entity" "ceiling" {
  name     = "ceiling-agent-entity"
  policies = ["default"]
}

resource "vault_agent_registration" "ceiling" {
  display_name     = "ceiling-agent"
  entity_id        = vault_identity_entity.ceiling.id
  ceiling_policies = [vault_policy.agent_ceiling.name]
  description      = "Production agent for application X"
}

# _noDefaultPolicy and docs "without default ceiling policy": an entity without policies
resource "vault_identity_entity" "no_default" {
  name = "no-default-agent-entity"
}

resource "vault_agent_registration" "no_default" {
  display_name              = "no-default-agent"
  entity_id                 = vault_identity_entity.no_default.id
  no_default_ceiling_policy = true
}

# _multiplePolicies and docs "multiple ceiling policies"
resource "vault_identity_entity" "multi" {
  name     = "multi-agent-entity"
  policies = ["default"]
}

resource "vault_agent_registration" "multi" {
  display_name = "multi-agent"
  entity_id    = vault_identity_entity.multi.id
  ceiling_policies = [
    vault_policy.secrets_read.name,
    vault_policy.auth_renew.name,
  ]
}

# _namespace and docs "in a namespace": namespace, entity and registration, linked by reference
resource "vault_namespace" "app" {
  path = "application"
}

resource "vault_identity_entity" "in_ns" {
  namespace = vault_namespace.app.path
  name      = "ns-agent-entity"
  policies  = ["default"]
}

resource "vault_agent_registration" "in_ns" {
  namespace    = vault_namespace.app.path
  display_name = "ns-agent"
  entity_id    = vault_identity_entity.in_ns.id
}

# _duplicateDisplayNameAcrossNamespaces: one display_name in two namespaces
resource "vault_namespace" "first" {
  path = "first"
}

resource "vault_namespace" "second" {
  path = "second"
}

resource "vault_identity_entity" "first" {
  namespace = vault_namespace.first.path
  name      = "twin-entity-1"
  policies  = ["default"]
}

resource "vault_identity_entity" "second" {
  namespace = vault_namespace.second.path
  name      = "twin-entity-2"
  policies  = ["default"]
}

resource "vault_agent_registration" "first" {
  namespace    = vault_namespace.first.path
  display_name = "twin-agent"
  entity_id    = vault_identity_entity.first.id
}

resource "vault_agent_registration" "second" {
  namespace    = vault_namespace.second.path
  display_name = "twin-agent"
  entity_id    = vault_identity_entity.second.id
}

# the entities of the shapes whose registration changes between steps
resource "vault_identity_entity" "described" {
  name     = "described-agent-entity"
  policies = ["default"]
}

resource "vault_identity_entity" "owned" {
  name     = "owned-agent-entity"
  policies = ["default"]
}

resource "vault_identity_entity" "swapped" {
  name     = "swapped-agent-entity"
  policies = ["default"]
}

resource "vault_identity_entity" "renamed" {
  name     = "renamed-agent-entity"
  policies = ["default"]
}

resource "vault_identity_entity" "rar" {
  name     = "rar-agent-entity"
  policies = ["default"]
}
"""

# Step 1 and step 2 of the shapes with an update sequence.
REGISTRATIONS_CHANGING = """\
# _withDescription: description changed in place
resource "vault_agent_registration" "described" {
  display_name = "described-agent"
  entity_id    = vault_identity_entity.described.id
  description  = "@DESCRIPTION@"
}

# _withOwner: owner changed in place
resource "vault_agent_registration" "owned" {
  display_name = "owned-agent"
  entity_id    = vault_identity_entity.owned.id
  owner        = "@OWNER@"
}

# _updatePolicies: the ceiling follows a policy whose name changes (policy1 -> policy2)
resource "vault_policy" "swapped" {
  name   = "@POLICY@"
  policy = <<EOT
path "secret/*" {
  capabilities = ["read"]
}
EOT
}

resource "vault_agent_registration" "swapped" {
  display_name     = "swapped-agent"
  entity_id        = vault_identity_entity.swapped.id
  ceiling_policies = [vault_policy.swapped.name]
}

# _requiresReplace: a new display_name replaces the registration
resource "vault_agent_registration" "renamed" {
  display_name = "@DISPLAY_NAME@"
  entity_id    = vault_identity_entity.renamed.id
}

# _optionalAuthorizationDetails and docs "optional authorization details": true, then false
resource "vault_agent_registration" "rar" {
  display_name                   = "rar-agent"
  entity_id                      = vault_identity_entity.rar.id
  optional_authorization_details = @OPTIONAL_RAR@
  description                    = "Agent with optional RAR support"
}
"""


def registrations_step(description: str, owner: str, policy: str, display_name: str, optional_rar: bool) -> str:
    return fill(REGISTRATIONS_CHANGING, {
        "@DESCRIPTION@": description,
        "@OWNER@": owner,
        "@POLICY@": policy,
        "@DISPLAY_NAME@": display_name,
        "@OPTIONAL_RAR@": json.dumps(optional_rar),
    })  # fmt: skip


def test_upstream_agent_registration_shapes(terraform, service, namespace):
    client = service.client(namespace)
    start(terraform, service, namespace, REGISTRATIONS_FIXED)
    terraform.write("changing.tf", registrations_step("Test agent", "team-vault", "policy-one", "agent-one", True))
    apply(terraform)
    assert_empty_plan(terraform)

    reg = {name: state_values(terraform, f"vault_agent_registration.{name}") for name in (
        "basic", "by_id", "slashes", "ceiling", "no_default", "multi", "in_ns", "first", "second", "described",
        "owned", "swapped", "renamed", "rar")}  # fmt: skip
    basic = reg["basic"]
    # _basic's checks: id and times set, the default ceiling filtered out, the opt-out false
    assert basic["id"] and basic["creation_time"] and basic["last_updated_time"]
    assert (basic["ceiling_policies"] or []) == [] and basic["no_default_ceiling_policy"] is False
    assert reg["slashes"]["display_name"] == "slash-agent/with/slashes"
    assert reg["ceiling"]["ceiling_policies"] == ["agent-ceiling-policy"]
    assert reg["no_default"]["no_default_ceiling_policy"] is True
    assert sorted(reg["multi"]["ceiling_policies"]) == ["auth-renew", "secrets-read"]
    assert reg["in_ns"]["namespace"] == "application"
    assert (reg["first"]["namespace"], reg["second"]["namespace"]) == ("first", "second")
    assert reg["first"]["display_name"] == reg["second"]["display_name"] == "twin-agent"
    assert reg["rar"]["optional_authorization_details"] is True
    stored = client.get(f"agent-registry/registration/id/{reg['no_default']['id']}").json()["data"]
    assert stored["ceiling_policies"] == []  # no default ceiling on the server either

    # the update steps: description, owner, the ceiling's policy, display_name (replace), RAR true -> false
    terraform.write(
        "changing.tf", registrations_step("Updated agent", "team-vault-platform", "policy-two", "agent-two", False)
    )
    result = apply(terraform)
    assert "2 added, 4 changed, 2 destroyed" in result.stdout, result.stdout  # 2 replaced, 4 in place
    assert_empty_plan(terraform)
    after = {name: state_values(terraform, f"vault_agent_registration.{name}") for name in reg}
    assert after["described"]["description"] == "Updated agent"
    assert after["owned"]["owner"] == "team-vault-platform"
    assert after["swapped"]["ceiling_policies"] == ["policy-two"]
    assert after["renamed"]["display_name"] == "agent-two" and after["renamed"]["id"] != reg["renamed"]["id"]
    assert after["rar"]["optional_authorization_details"] is False
    assert all(after[n]["id"] == reg[n]["id"] for n in ("described", "owned", "swapped", "rar"))

    # imports by the upstream ID forms: display_name, or the UUID (which the provider detects); the
    # namespaced one by display_name with TERRAFORM_VAULT_NAMESPACE_IMPORT
    by_display_name = ("basic", "ceiling", "no_default", "multi", "described", "owned", "rar")
    ids = {f"vault_agent_registration.{n}": after[n]["display_name"] for n in by_display_name}
    ids |= {f"vault_agent_registration.{n}": after[n]["id"] for n in ("by_id", "slashes")}
    reimport(terraform, ids, in_namespace=("vault_agent_registration.in_ns", "ns-agent", "application"))
    assert state_values(terraform, "vault_agent_registration.slashes")["display_name"] == "slash-agent/with/slashes"
    assert state_values(terraform, "vault_agent_registration.in_ns")["namespace"] == "application"

    ok(terraform("destroy", "-auto-approve"))
    assert client.list("agent-registry/registration/display-name").status_code == 404


# ---- vault_oauth_resource_server_config_profile and vault_activation_flags ----------------------------
# Upstream: website/docs/r/oauth_resource_server_config_profile.html.md (every example),
# internal/vault/sys/oauth_resource_server_config_profile_resource_test.go (every test: each declares the
# `oauth-resource-server` activation flag and makes the profile depend on it),
# website/docs/r/activation_flags.html.md, website/docs/d/activation_flags.html.md and
# internal/vault/sys/activation_flags_{resource,data_source}_test.go. Issuers differ per profile here
# because one namespace holds them all (an issuer is unique per namespace, in Vault as here).

PROFILES_FIXED = """\
# activation_flags _basic/_import/_delete: the flag, and data sources read before and after it
resource "vault_activation_flags" "oauth" {
  feature = "oauth-resource-server"
}

data "vault_activation_flags" "current" {}

data "vault_activation_flags" "after" {
  depends_on = [vault_activation_flags.oauth]
}

# activation flags data source _outputUsage: both sets as outputs, and a local computed from one
output "activated_features" {
  value = data.vault_activation_flags.current.activated_flags
}

output "unactivated_features" {
  value = data.vault_activation_flags.current.unactivated_flags
}

locals {
  any_flag_active = length(data.vault_activation_flags.current.activated_flags) > 0
}

output "any_flag_active" {
  value = local.any_flag_active
}

# _pem and docs "PEM-based profile with static keys": two keys, each PEM in an indented heredoc
resource "vault_oauth_resource_server_config_profile" "pem" {
  depends_on   = [vault_activation_flags.oauth]
  profile_name = "pem-profile"
  issuer_id    = "https://pem.example.com"
  use_jwks     = false

  public_keys {
    key_id = "key-1"
    pem    = <<-EOT
@KEY_ONE@
EOT
  }

  public_keys {
    key_id = "key-2"
    pem    = <<-EOT
@KEY_TWO@
EOT
  }
}

# _withAudiences and docs "JWKS-based profile": audiences in the order written
resource "vault_oauth_resource_server_config_profile" "audiences" {
  depends_on   = [vault_activation_flags.oauth]
  profile_name = "audiences-profile"
  issuer_id    = "https://audiences.example.com"
  use_jwks     = true
  jwks_uri     = "https://audiences.example.com/.well-known/jwks.json"
  audiences    = ["api.example.com", "vault.example.com"]
}

# _algorithms: two algorithms, in the order written
resource "vault_oauth_resource_server_config_profile" "algorithms" {
  depends_on           = [vault_activation_flags.oauth]
  profile_name         = "algorithms-profile"
  issuer_id            = "https://algorithms.example.com"
  use_jwks             = true
  jwks_uri             = "https://algorithms.example.com/.well-known/jwks.json"
  supported_algorithms = ["RS256", "ES256"]
}

# docs "profile with custom configuration": a CA from a file next to the configuration, and every
# optional setting spelled out with its value
resource "vault_oauth_resource_server_config_profile" "advanced" {
  profile_name         = "advanced-profile"
  issuer_id            = "https://advanced.example.com"
  use_jwks             = true
  jwks_uri             = "https://advanced.example.com/.well-known/jwks.json"
  jwks_ca_pem          = file("${path.module}/ca-cert.pem")
  audiences            = ["api.example.com"]
  user_claim           = "email"
  supported_algorithms = ["RS256", "ES256"]
  jwt_type             = "access_token"
  clock_skew_leeway    = 30
  no_default_policy    = false
  enabled              = true
}

# _namespace and docs "profile in a namespace"; imported with TERRAFORM_VAULT_NAMESPACE_IMPORT
resource "vault_namespace" "app" {
  path = "application"
}

resource "vault_oauth_resource_server_config_profile" "in_ns" {
  depends_on   = [vault_activation_flags.oauth]
  namespace    = vault_namespace.app.path
  profile_name = "app-oauth-profile"
  issuer_id    = "https://example.com"
  use_jwks     = true
  jwks_uri     = "https://example.com/.well-known/jwks.json"
}

# _duplicateProfileNameAcrossNamespaces: one profile_name and one issuer in two namespaces
resource "vault_namespace" "first" {
  path = "first"
}

resource "vault_namespace" "second" {
  path = "second"
}

resource "vault_oauth_resource_server_config_profile" "first" {
  depends_on   = [vault_activation_flags.oauth]
  namespace    = vault_namespace.first.path
  profile_name = "twin-profile"
  issuer_id    = "https://example.com"
  use_jwks     = true
  jwks_uri     = "https://example.com/.well-known/jwks.json"
}

resource "vault_oauth_resource_server_config_profile" "second" {
  depends_on   = [vault_activation_flags.oauth]
  namespace    = vault_namespace.second.path
  profile_name = "twin-profile"
  issuer_id    = "https://example.com"
  use_jwks     = true
  jwks_uri     = "https://example.com/.well-known/jwks.json"
}
"""

# Step 1 and step 2 of the shapes with an update sequence.
PROFILES_CHANGING = """\
# _jwks, then _update (docs "disabled profile" is its second step): enabled, user_claim, leeway
resource "vault_oauth_resource_server_config_profile" "jwks" {
  depends_on   = [vault_activation_flags.oauth]
  profile_name = "jwks-profile"
  issuer_id    = "https://jwks.example.com"
  use_jwks     = true
  jwks_uri     = "https://jwks.example.com/.well-known/jwks.json"
@JWKS_UPDATE@}

# _rarMandatory -> _rarOptional and _rarOptional -> _rarMandatory (_rarUpdate, both directions), and
# docs "profile with RAR support"
resource "vault_oauth_resource_server_config_profile" "rar_a" {
  depends_on                     = [vault_activation_flags.oauth]
  profile_name                   = "rar-a-profile"
  issuer_id                      = "https://rar-a.example.com"
  use_jwks                       = true
  jwks_uri                       = "https://rar-a.example.com/.well-known/jwks.json"
  optional_authorization_details = @RAR_A@
}

resource "vault_oauth_resource_server_config_profile" "rar_b" {
  depends_on                     = [vault_activation_flags.oauth]
  profile_name                   = "rar-b-profile"
  issuer_id                      = "https://rar-b.example.com"
  use_jwks                       = true
  jwks_uri                       = "https://rar-b.example.com/.well-known/jwks.json"
  optional_authorization_details = @RAR_B@
}

# _requiresReplace: a new profile_name replaces the profile
resource "vault_oauth_resource_server_config_profile" "renamed" {
  depends_on   = [vault_activation_flags.oauth]
  profile_name = "@RENAMED@"
  issuer_id    = "https://renamed.example.com"
  use_jwks     = true
  jwks_uri     = "https://renamed.example.com/.well-known/jwks.json"
}
"""

JWKS_UPDATE = """\
  enabled           = false
  user_claim        = "email"
  clock_skew_leeway = 30
"""

# docs "profile with RAR support" declares both of its profiles with one issuer_id: refused in one
# namespace, by Vault and here.
SAME_ISSUER = """\
resource "vault_oauth_resource_server_config_profile" "same_issuer" {
  depends_on   = [vault_activation_flags.oauth]
  profile_name = "same-issuer-profile"
  issuer_id    = "https://rar-a.example.com"
  use_jwks     = true
  jwks_uri     = "https://rar-a.example.com/.well-known/jwks.json"
}
"""


def profiles_step(*, updated: bool) -> str:
    return fill(PROFILES_CHANGING, {
        "@JWKS_UPDATE@": JWKS_UPDATE if updated else "",
        "@RAR_A@": json.dumps(updated),
        "@RAR_B@": json.dumps(not updated),
        "@RENAMED@": "renamed-2" if updated else "renamed-1",
    })  # fmt: skip


def test_upstream_profile_and_activation_flag_shapes(terraform, service, namespace):
    client = service.client(namespace)
    keys = [public_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)) for _ in range(2)]
    main = fill(PROFILES_FIXED, {"@KEY_ONE@": keys[0].strip(), "@KEY_TWO@": keys[1].strip()})
    start(terraform, service, namespace, main)
    terraform.write("ca-cert.pem", ca_certificate_pem())
    terraform.write("changing.tf", profiles_step(updated=False))
    apply(terraform)
    assert_empty_plan(terraform)

    names = ("pem", "audiences", "algorithms", "advanced", "in_ns", "first", "second", "jwks", "rar_a", "rar_b",
             "renamed")  # fmt: skip
    prof = {n: state_values(terraform, f"vault_oauth_resource_server_config_profile.{n}") for n in names}
    flag = state_values(terraform, "vault_activation_flags.oauth")
    assert flag == {"feature": "oauth-resource-server", "id": "oauth-resource-server"}
    for source in ("current", "after"):
        flags = data_values(terraform, f"data.vault_activation_flags.{source}")
        assert flags["id"] == "sys/activation-flags"
        assert (flags["activated_flags"], flags["unactivated_flags"]) == (["oauth-resource-server"], [])
    assert terraform.output("activated_features") == ["oauth-resource-server"]
    assert terraform.output("unactivated_features") == []
    assert terraform.output("any_flag_active") is True
    jwks = prof["jwks"]
    # _jwks's checks, and _update's first step: the defaults read back
    assert (jwks["use_jwks"], jwks["enabled"], jwks["user_claim"]) == (True, True, "sub")
    assert jwks["id"] and jwks["id"] == jwks["config_id"]
    assert [k["key_id"] for k in prof["pem"]["public_keys"]] == ["key-1", "key-2"]
    assert prof["pem"]["use_jwks"] is False
    assert prof["audiences"]["audiences"] == ["api.example.com", "vault.example.com"]
    assert prof["algorithms"]["supported_algorithms"] == ["RS256", "ES256"]
    advanced = client.get("sys/config/oauth-resource-server/advanced-profile").json()["data"]
    assert (advanced["user_claim"], advanced["clock_skew_leeway"]) == ("email", 30)
    assert advanced["jwt_type"] == "access_token"
    assert advanced["jwks_ca_pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert prof["in_ns"]["namespace"] == "application"
    assert (prof["first"]["namespace"], prof["second"]["namespace"]) == ("first", "second")
    assert prof["first"]["profile_name"] == prof["second"]["profile_name"] == "twin-profile"
    assert (prof["rar_a"]["optional_authorization_details"], prof["rar_b"]["optional_authorization_details"]) == (
        False,
        True,
    )

    # the update steps: _update's settings, RAR both ways, a new profile_name (replace)
    terraform.write("changing.tf", profiles_step(updated=True))
    result = apply(terraform)
    assert "1 added, 3 changed, 1 destroyed" in result.stdout, result.stdout
    assert_empty_plan(terraform)
    after = {n: state_values(terraform, f"vault_oauth_resource_server_config_profile.{n}") for n in names}
    assert (after["jwks"]["enabled"], after["jwks"]["user_claim"], after["jwks"]["clock_skew_leeway"]) == (
        False,
        "email",
        30,
    )
    assert after["jwks"]["id"] == jwks["id"]
    assert (after["rar_a"]["optional_authorization_details"], after["rar_b"]["optional_authorization_details"]) == (
        True,
        False,
    )
    assert after["renamed"]["profile_name"] == "renamed-2" and after["renamed"]["id"] != prof["renamed"]["id"]

    # imports by the upstream ID forms: profile_name, the feature name; the namespaced profile by
    # profile_name with TERRAFORM_VAULT_NAMESPACE_IMPORT
    ids = {f"vault_oauth_resource_server_config_profile.{n}": after[n]["profile_name"]
           for n in ("jwks", "pem", "rar_a", "rar_b")}  # fmt: skip
    ids["vault_activation_flags.oauth"] = "oauth-resource-server"
    reimport(
        terraform,
        ids,
        in_namespace=("vault_oauth_resource_server_config_profile.in_ns", "app-oauth-profile", "application"),
    )

    # docs "profile with RAR support" as written (both profiles with one issuer) fails in Vault and here
    terraform.write("same_issuer.tf", SAME_ISSUER)
    fails(
        terraform("apply", "-auto-approve"),
        'duplicate issuer_id "https://rar-a.example.com" found in profile "rar-a-profile"',
    )
    (terraform.workdir / "same_issuer.tf").unlink()

    # destroy deletes the profiles and only forgets the flag (activation cannot be undone)
    result = ok(terraform("destroy", "-auto-approve"))
    assert "Activation flag remains active" in result.stdout + result.stderr
    assert client.list("sys/config/oauth-resource-server").status_code == 404
    assert service.client().get("sys/activation-flags").json()["data"]["activated"] == ["oauth-resource-server"]


# ---- vault_identity_entity and vault_identity_entity_alias --------------------------------------------
# Upstream: website/docs/r/identity_entity.html.md, website/docs/r/identity_entity_alias.html.md,
# vault/resource_identity_entity_test.go (TestAccIdentityEntity*) and
# vault/resource_identity_entity_alias_test.go (TestAccIdentityEntityAlias*).
# Upstream aliases hang on `vault_auth_backend` mounts (github, cert), which this provider does not have
# (docs/compatibility.md): each alias shape is written with an OAuth resource server profile in the
# mount's place, `issuer` (and `external_id`) in place of `mount_accessor`, and once with the profile's
# synthesized accessor as `mount_accessor`.

ENTITIES = """\
# docs example: name, policies, metadata
resource "vault_identity_entity" "doc" {
  name     = "tester1"
  policies = ["test"]
  metadata = {
    foo = "bar"
  }
}

# TestAccIdentityEntity, then TestAccIdentityEntityUpdate: renamed, a second policy, new metadata,
# disabled, external_policies spelled false
resource "vault_identity_entity" "entity" {
@ENTITY@}

# TestAccIdentityEntityUpdateRemoveValues: the same start, then only the name is left
resource "vault_identity_entity" "emptied" {
@EMPTIED@}

# the stand-ins for the upstream tests' two github mounts
resource "vault_oauth_resource_server_config_profile" "idp_a" {
  profile_name = "idp-a"
  issuer_id    = "https://idp-a.example.com"
  use_jwks     = true
  jwks_uri     = "https://idp-a.example.com/.well-known/jwks.json"
}

resource "vault_oauth_resource_server_config_profile" "idp_b" {
  profile_name = "idp-b"
  issuer_id    = "https://idp-b.example.com"
  use_jwks     = true
  jwks_uri     = "https://idp-b.example.com/.well-known/jwks.json"
}

# TestAccIdentityEntityAlias_Update and _Metadata: entities A and B with metadata; the alias takes its
# name, entity, mount and custom_metadata from A, then from B
resource "vault_identity_entity" "entity_a" {
  name     = "my-entity-A"
  policies = ["test"]
  metadata = {
    version = "1"
  }
}

resource "vault_identity_entity" "entity_b" {
  name     = "my-entity-B"
  policies = ["test"]
  metadata = {
    version = "2"
  }
}

resource "vault_identity_entity_alias" "entity_alias" {
  name            = vault_identity_entity.entity_@TARGET@.name
  issuer          = vault_oauth_resource_server_config_profile.idp_@TARGET@.issuer_id
  canonical_id    = vault_identity_entity.entity_@TARGET@.id
  custom_metadata = vault_identity_entity.entity_@TARGET@.metadata
}

# TestAccIdentityEntityAliasDuplicateFlow: a policy, two entities with it, two aliases on one mount whose
# names come from variables (the same name twice fails; distinct names recover)
variable "name_prefix" {
  default = "duplicate-flow"
}

resource "vault_policy" "flow" {
  name   = "${var.name_prefix}-policy"
  policy = <<EOT
path "secret/my_app" {
  capabilities = ["update"]
}
EOT
}

resource "vault_identity_entity" "flow_1" {
  name = "${var.name_prefix}-1"
  policies = [
    "default",
    vault_policy.flow.name,
  ]
}

resource "vault_identity_entity" "flow_2" {
  name = "${var.name_prefix}-2"
  policies = [
    "default",
    vault_policy.flow.name,
  ]
}

resource "vault_identity_entity_alias" "flow_1" {
  name         = var.alias_name_1
  issuer       = vault_oauth_resource_server_config_profile.idp_a.issuer_id
  external_id  = var.alias_name_1
  canonical_id = vault_identity_entity.flow_1.id
}

resource "vault_identity_entity_alias" "flow_2" {
  name         = var.alias_name_2
  issuer       = vault_oauth_resource_server_config_profile.idp_a.issuer_id
  external_id  = var.alias_name_2
  canonical_id = vault_identity_entity.flow_2.id
}

# TestAccIdentityEntityAlias_ExternalIDIssuer: external_id and issuer, and mount_accessor set too (here
# the accessor the server synthesizes for the profile, built from the namespace's and profile's ids)
resource "vault_namespace" "idp" {
  path = "idp"
}

resource "vault_oauth_resource_server_config_profile" "idp_c" {
  namespace    = vault_namespace.idp.path
  profile_name = "idp-c"
  issuer_id    = "https://issuer.example.com"
  use_jwks     = true
  jwks_uri     = "https://issuer.example.com/.well-known/jwks.json"
}

resource "vault_identity_entity" "external" {
  namespace = vault_namespace.idp.path
  name      = "my-entity-external"
  policies  = ["test"]
}

resource "vault_identity_entity_alias" "external" {
  namespace      = vault_namespace.idp.path
  name           = "my-entity-external"
  mount_accessor = join("_", [
    "oauth-resource-server",
    vault_namespace.idp.namespace_id,
    vault_oauth_resource_server_config_profile.idp_c.config_id,
  ])
  canonical_id   = vault_identity_entity.external.id
  external_id    = "ext-id-1"
  issuer         = vault_oauth_resource_server_config_profile.idp_c.issuer_id
}
"""

ENTITY_START = """\
  name     = "@NAME@"
  policies = ["test"]
  metadata = {
    version = "1"
  }
"""

ENTITY_UPDATED = """\
  name     = "test-entity-2"
  policies = ["dev", "test"]
  metadata = {
    version = "2"
  }
  disabled          = true
  external_policies = false
"""


def entities_step(terraform: Any, *, updated: bool, alias_names: tuple[str, str]) -> None:
    """Write one step: main.tf, and the alias names of the duplicate flow in terraform.tfvars."""
    values = {
        "@ENTITY@": ENTITY_UPDATED if updated else fill(ENTITY_START, {"@NAME@": "test-entity"}),
        "@EMPTIED@": '  name = "emptied-2"\n' if updated else fill(ENTITY_START, {"@NAME@": "emptied"}),
        "@TARGET@": "b" if updated else "a",
    }
    terraform.write("main.tf", fill(ENTITIES, values))
    terraform.write("terraform.tfvars", f'alias_name_1 = "{alias_names[0]}"\nalias_name_2 = "{alias_names[1]}"\n')


DUPLICATE_ALIAS = "alias already exists for issuer and external_id"


def test_upstream_identity_entity_and_alias_shapes(terraform, service, namespace):
    client = service.client(namespace)
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    terraform.write("variables.tf", 'variable "alias_name_1" {}\nvariable "alias_name_2" {}\n')
    entities_step(terraform, updated=False, alias_names=("alias", "alias"))
    ok(terraform("init"))

    # DuplicateFlow step 1: two aliases with one name on one mount; one is created, the other refused
    fails(terraform("apply", "-auto-approve"), DUPLICATE_ALIAS)
    # ... step 2 recovers with distinct names
    entities_step(terraform, updated=False, alias_names=("alias-1", "alias-2"))
    apply(terraform)
    assert_empty_plan(terraform)
    entity = state_values(terraform, "vault_identity_entity.entity")
    assert (entity["name"], entity["policies"], entity["metadata"]) == ("test-entity", ["test"], {"version": "1"})
    assert state_values(terraform, "vault_identity_entity.doc")["metadata"] == {"foo": "bar"}
    alias = state_values(terraform, "vault_identity_entity_alias.entity_alias")
    entity_a = state_values(terraform, "vault_identity_entity.entity_a")
    assert (alias["name"], alias["canonical_id"]) == ("my-entity-A", entity_a["id"])
    assert (alias["issuer"], alias["custom_metadata"]) == ("https://idp-a.example.com", {"version": "1"})
    external = state_values(terraform, "vault_identity_entity_alias.external")
    assert (external["external_id"], external["issuer"]) == ("ext-id-1", "https://issuer.example.com")
    assert external["mount_accessor"].startswith("oauth-resource-server_")

    # TestAccIdentityEntityUpdate / UpdateRemoveValues, alias _Update / _Metadata (A -> B), and
    # DuplicateFlow step 3 (back to the first name for alias 1)
    entities_step(terraform, updated=True, alias_names=("alias", "alias-2"))
    apply(terraform)
    assert_empty_plan(terraform)
    entity = state_values(terraform, "vault_identity_entity.entity")
    assert (entity["name"], sorted(entity["policies"]), entity["disabled"]) == ("test-entity-2", ["dev", "test"], True)
    stored = client.get(f"identity/entity/id/{entity['id']}").json()["data"]
    assert (stored["metadata"], stored["disabled"]) == ({"version": "2"}, True)
    emptied = state_values(terraform, "vault_identity_entity.emptied")
    stored = client.get(f"identity/entity/id/{emptied['id']}").json()["data"]
    assert (stored["name"], stored["policies"], stored["disabled"]) == ("emptied-2", [], False)
    assert not stored["metadata"]  # null: Vault's spelling of no metadata
    alias = state_values(terraform, "vault_identity_entity_alias.entity_alias")
    entity_b = state_values(terraform, "vault_identity_entity.entity_b")
    assert (alias["name"], alias["canonical_id"]) == ("my-entity-B", entity_b["id"])
    assert (alias["issuer"], alias["custom_metadata"]) == ("https://idp-b.example.com", {"version": "2"})

    # imports by ID (entities, aliases); the namespaced alias with TERRAFORM_VAULT_NAMESPACE_IMPORT
    addresses = ["vault_identity_entity.doc", "vault_identity_entity.entity", "vault_identity_entity.emptied",
                 "vault_identity_entity_alias.entity_alias", "vault_identity_entity_alias.flow_1",
                 "vault_identity_entity_alias.flow_2"]  # fmt: skip
    ids = {address: state_values(terraform, address)["id"] for address in addresses}
    reimport(terraform, ids, in_namespace=("vault_identity_entity_alias.external", external["id"], "idp"))

    # DuplicateFlow step 4: an alias deleted out of band is created again
    flow_1 = state_values(terraform, "vault_identity_entity_alias.flow_1")
    assert client.delete(f"identity/entity-alias/id/{flow_1['id']}").status_code == 204
    result = apply(terraform)
    assert "1 added, 0 changed, 0 destroyed" in result.stdout, result.stdout
    # ... step 5: the same name again, this time through an update (here a replacement)
    entities_step(terraform, updated=True, alias_names=("alias", "alias"))
    fails(terraform("apply", "-auto-approve"), DUPLICATE_ALIAS)

    ok(terraform("destroy", "-auto-approve"))
    assert client.list("identity/entity/id").status_code == 404


# ---- vault_identity_group and its companions ---------------------------------------------------------
# Upstream: website/docs/r/identity_group*.html.md and website/docs/d/identity_group.html.md (every
# example), vault/resource_identity_group_test.go (testAccIdentityGroupConfig*). The alias hangs on a profile's
# mount_accessor instead of a vault_auth_backend's accessor (docs/compatibility.md); resource names are made
# unique where two examples share one.

GROUPS = """\
# docs "Internal Group" and "External Group"
resource "vault_identity_group" "internal" {
  name     = "internal"
  type     = "internal"
  policies = ["dev", "test"]

  metadata = {
    version = "2"
  }
}

resource "vault_identity_group" "group" {
  name     = "external"
  type     = "external"
  policies = ["test"]

  metadata = {
    version = "1"
  }
}

# testAccIdentityGroupConfigUpdateMembers
resource "vault_identity_group" "members" {
  name     = "members"
  type     = "internal"
  policies = ["dev", "test"]
  metadata = {
    version = "2"
  }
  member_entity_ids = [vault_identity_entity.entity.id]
  member_group_ids  = [vault_identity_group.other_group.id]
}

resource "vault_identity_entity" "entity" {
  name     = "entity"
  policies = ["dev", "test"]
  metadata = {
    version = "2"
  }
}

resource "vault_identity_group" "other_group" {
  name = "other_members"
}

# identity_group_member_entity_ids docs: "Exclusive Member Entities" and "Non-exclusive Member Entities"
resource "vault_identity_group" "exclusive_entities" {
  name                       = "exclusive-entities"
  type                       = "internal"
  external_member_entity_ids = true
  metadata = {
    version = "2"
  }
}

resource "vault_identity_entity" "user" {
  name = "user"
}

resource "vault_identity_group_member_entity_ids" "members" {
  exclusive         = true
  member_entity_ids = [vault_identity_entity.user.id]
  group_id          = vault_identity_group.exclusive_entities.id
}

resource "vault_identity_group" "shared_entities" {
  name                       = "shared-entities"
  type                       = "internal"
  external_member_entity_ids = true
  metadata = {
    version = "2"
  }
}

resource "vault_identity_entity" "test_user" {
  name = "test"
}

resource "vault_identity_entity" "second_test_user" {
  name = "second_test"
}

resource "vault_identity_entity" "dev_user" {
  name = "dev"
}

resource "vault_identity_group_member_entity_ids" "test" {
  member_entity_ids = [vault_identity_entity.test_user.id,
  vault_identity_entity.second_test_user.id]
  exclusive = false
  group_id  = vault_identity_group.shared_entities.id
}

resource "vault_identity_group_member_entity_ids" "others" {
  member_entity_ids = [vault_identity_entity.dev_user.id]
  exclusive         = false
  group_id          = vault_identity_group.shared_entities.id
}

# identity_group_member_group_ids docs: "Exclusive Member Groups"
resource "vault_identity_group" "exclusive_groups" {
  name                      = "exclusive-groups"
  type                      = "internal"
  external_member_group_ids = true
  metadata = {
    version = "2"
  }
}

resource "vault_identity_group" "users" {
  name = "users"
  metadata = {
    version = "2"
  }
}

resource "vault_identity_group_member_group_ids" "members" {
  exclusive        = true
  member_group_ids = [vault_identity_group.users.id]
  group_id         = vault_identity_group.exclusive_groups.id
}

# identity_group_policies docs: "Exclusive Policies" and "Non-exclusive Policies"
resource "vault_identity_group" "exclusive_policies" {
  name              = "exclusive-policies"
  type              = "internal"
  external_policies = true
  metadata = {
    version = "2"
  }
}

resource "vault_identity_group_policies" "policies" {
  policies = [
    "default",
    "test",
  ]
  exclusive = true
  group_id  = vault_identity_group.exclusive_policies.id
}

resource "vault_identity_group" "shared_policies" {
  name              = "shared-policies"
  type              = "internal"
  external_policies = true
  metadata = {
    version = "2"
  }
}

resource "vault_identity_group_policies" "default" {
  policies = [
    "default",
    "test",
  ]
  exclusive = false
  group_id  = vault_identity_group.shared_policies.id
}

resource "vault_identity_group_policies" "others" {
  policies = [
    "others",
  ]
  exclusive = false
  group_id  = vault_identity_group.shared_policies.id
}

# identity_group_alias docs, on a profile's accessor
resource "vault_oauth_resource_server_config_profile" "github" {
  profile_name = "github"
  issuer_id    = "https://token.actions.githubusercontent.com"
  jwks_uri     = "https://token.actions.githubusercontent.com/.well-known/jwks"
  groups_claim = "teams"
}

resource "vault_identity_group" "alias_target" {
  name     = "test"
  type     = "external"
  policies = ["test"]
}

resource "vault_identity_group_alias" "group-alias" {
  name           = "Github_Team_Slug"
  mount_accessor = vault_oauth_resource_server_config_profile.github.mount_accessor
  canonical_id   = vault_identity_group.alias_target.id
}

# data source docs
data "vault_identity_group" "group" {
  group_name = vault_identity_group.users.name
}
"""


def test_upstream_identity_group_shapes(terraform, service, namespace):
    client = service.client(namespace)
    start(terraform, service, namespace, GROUPS)
    apply(terraform)
    assert_empty_plan(terraform)

    def group(address):  # noqa: ANN001, ANN202
        return client.get(f"identity/group/id/{state_values(terraform, address)['id']}").json()["data"]

    assert sorted(group("vault_identity_group.internal")["policies"]) == ["dev", "test"]
    assert group("vault_identity_group.group")["type"] == "external"
    members = group("vault_identity_group.members")
    assert members["member_entity_ids"] == [state_values(terraform, "vault_identity_entity.entity")["id"]]
    assert members["member_group_ids"] == [state_values(terraform, "vault_identity_group.other_group")["id"]]
    assert group("vault_identity_group.exclusive_entities")["member_entity_ids"] == [
        state_values(terraform, "vault_identity_entity.user")["id"]
    ]
    assert len(group("vault_identity_group.shared_entities")["member_entity_ids"]) == 3
    assert group("vault_identity_group.exclusive_groups")["member_group_ids"] == [
        state_values(terraform, "vault_identity_group.users")["id"]
    ]
    assert sorted(group("vault_identity_group.exclusive_policies")["policies"]) == ["default", "test"]
    assert sorted(group("vault_identity_group.shared_policies")["policies"]) == ["default", "others", "test"]
    assert group("vault_identity_group.alias_target")["alias"]["name"] == "Github_Team_Slug"
    assert data_values(terraform, "data.vault_identity_group.group")["metadata"] == {"version": "2"}

    # imports by the upstream ID forms: group and alias by id, the list resources by their group's id
    addresses = ["vault_identity_group.internal", "vault_identity_group.members",
                 "vault_identity_group_member_entity_ids.members", "vault_identity_group_member_group_ids.members",
                 "vault_identity_group_policies.policies", "vault_identity_group_alias.group-alias"]  # fmt: skip
    reimport(terraform, {address: state_values(terraform, address)["id"] for address in addresses})

    ok(terraform("destroy", "-auto-approve"))
    assert client.list("identity/group/id").status_code == 404


# ---- vault_policy and vault_namespace -----------------------------------------------------------------
# Upstream: website/docs/r/policy.html.md, vault/resource_policy_test.go (TestResourcePolicy*),
# website/docs/r/namespace.html.md and vault/resource_namespace_test.go (TestAccNamespace).

POLICIES_AND_NAMESPACES = """\
# TestResourcePolicy: the legacy `policy = "read"` form inside a path block, tab-indented; then a new name
# (a replacement) and "write"
resource "vault_policy" "test" {
	name = "@POLICY_NAME@"
	policy = <<EOT
path "secret/*" {
	policy = "@POLICY_VERB@"
}
EOT
}

# TestResourcePolicy_defaultOverwrite and _allowOverwrite: policies that already exist are overwritten,
# with allow_overwrite left out and set to true
resource "vault_policy" "default_overwrite" {
  name   = "pre-existing-default"
  policy = <<EOT
path "secret/*" {
  capabilities = ["read"]
}
EOT
}

resource "vault_policy" "allow_overwrite" {
  name            = "pre-existing-allowed"
  allow_overwrite = true
  policy          = <<EOT
path "secret/*" {
  capabilities = ["read"]
}
EOT
}

# TestAccNamespace: a parent and `count` children named from variables, 3 -> 2 -> 0; then the parent
# renamed with custom_metadata (a replacement)
variable "child_prefix" {
  default = "child_"
}

variable "child_count" {
  default = @CHILD_COUNT@
}

resource "vault_namespace" "parent" {
  path = "@PARENT@"
@PARENT_METADATA@}

resource "vault_namespace" "child" {
  namespace = vault_namespace.parent.path
  count     = var.child_count
  path      = "${var.child_prefix}${count.index}"
}

# namespace docs "single namespace", and policy docs (allow_overwrite = false) inside it
resource "vault_namespace" "ns1" {
  path = "ns1"
}

resource "vault_policy" "example" {
  namespace       = vault_namespace.ns1.path
  name            = "dev-team"
  allow_overwrite = false

  policy = <<EOT
path "secret/my_app" {
  capabilities = ["update"]
}
EOT
}

# namespace docs "nested namespaces": children from a set variable with for_each
variable "child_namespaces" {
  type = set(string)
  default = [
    "child_0",
    "child_1",
    "child_2",
  ]
}

resource "vault_namespace" "nested_parent" {
  path = "parent"
}

resource "vault_namespace" "children" {
  for_each  = var.child_namespaces
  namespace = vault_namespace.nested_parent.path
  path      = each.key
}
"""

# namespace docs "import": a provider alias whose namespace is `example`, and a namespace created in it.
# A test of its own: Terraform starts a provider process per provider configuration (tests/acceptance/conftest.py).
NAMESPACE_THROUGH_AN_ALIAS = """\
provider "vault" {
  alias     = "example"
  address   = "@ADDRESS@"
  token     = "@TOKEN@"
  namespace = "@NAMESPACE@/example"
}

resource "vault_namespace" "example2" {
  provider = vault.example
  path     = "example2"
}
"""

PARENT_METADATA = """\
  custom_metadata = {
    foo = "abc",
    bar = "123"
  }
"""

# TestResourcePolicy_noOverwrite: a policy that exists, and allow_overwrite = false
POLICY_NO_OVERWRITE = """\
resource "vault_policy" "no_overwrite" {
  name            = "pre-existing-denied"
  allow_overwrite = false
  policy          = <<EOT
path "secret/*" {
  capabilities = ["read"]
}
EOT
}
"""


def policies_and_namespaces_step(terraform: Any, service: Any, namespace: str, step: int) -> None:
    values = {
        "@POLICY_NAME@": "dev-team" if step > 1 else "test-policy",
        "@POLICY_VERB@": "write" if step > 1 else "read",
        "@CHILD_COUNT@": str((3, 2, 0)[step - 1]),
        "@PARENT@": "parent-ns-cm" if step == 3 else "parent-ns",
        "@PARENT_METADATA@": PARENT_METADATA if step == 3 else "",
        "@ADDRESS@": service.url,
        "@TOKEN@": service.root_token,
        "@NAMESPACE@": namespace,
    }
    terraform.write("main.tf", fill(POLICIES_AND_NAMESPACES, values))


def test_upstream_policy_and_namespace_shapes(terraform, service, namespace):
    client = service.client(namespace)
    existing = 'path "secret/*" { capabilities = ["read"] }'
    for name in ("pre-existing-default", "pre-existing-allowed", "pre-existing-denied"):
        assert client.post(f"sys/policies/acl/{name}", json={"policy": existing}).status_code == 204
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    policies_and_namespaces_step(terraform, service, namespace, 1)
    ok(terraform("init"))

    apply(terraform)
    assert_empty_plan(terraform)
    stored = client.get("sys/policies/acl/test-policy").json()["data"]["policy"]
    assert stored == 'path "secret/*" {\n\tpolicy = "read"\n}\n'  # exactly as written
    for name in ("pre-existing-default", "pre-existing-allowed"):  # overwritten
        assert "\n" in client.get(f"sys/policies/acl/{name}").json()["data"]["policy"]
    assert client.get("sys/policies/acl/dev-team", headers={"X-Vault-Namespace": f"{namespace}/ns1"}).ok
    children = instances(terraform, "vault_namespace.child")
    assert {i: (c["path"], c["path_fq"]) for i, c in children.items()} == {
        i: (f"child_{i}", f"parent-ns/child_{i}") for i in range(3)
    }
    nested = instances(terraform, "vault_namespace.children")["child_1"]
    assert (nested["path_fq"], nested["id"]) == ("parent/child_1", f"{namespace}/parent/child_1/")

    # TestResourcePolicy's second step, and TestAccNamespace's 3 -> 2 children
    policies_and_namespaces_step(terraform, service, namespace, 2)
    result = apply(terraform)
    assert "1 added, 0 changed, 2 destroyed" in result.stdout, result.stdout
    assert_empty_plan(terraform)
    stored = client.get("sys/policies/acl/dev-team").json()["data"]["policy"]
    assert stored == 'path "secret/*" {\n\tpolicy = "write"\n}\n'
    assert client.get("sys/policies/acl/test-policy").status_code == 404
    # ... 2 -> 0 children and the parent renamed, now with custom_metadata
    policies_and_namespaces_step(terraform, service, namespace, 3)
    apply(terraform)
    assert_empty_plan(terraform)
    parent = state_values(terraform, "vault_namespace.parent")
    assert (parent["path"], parent["custom_metadata"]) == ("parent-ns-cm", {"foo": "abc", "bar": "123"})
    assert client.get("sys/namespaces/parent-ns").status_code == 404

    # imports: the policies by name; the namespace by name
    reimport(terraform, {"vault_policy.test": "dev-team", "vault_policy.default_overwrite": "pre-existing-default",
                         "vault_namespace.ns1": "ns1"})  # fmt: skip

    # TestResourcePolicy_noOverwrite: refused, with how to go on
    terraform.write("refused.tf", POLICY_NO_OVERWRITE)
    fails(
        terraform("apply", "-auto-approve"),
        'Policy "pre-existing-denied" already exists. Import it with `terraform import` (ID: pre-existing-denied) '
        "to manage it here, or set allow_overwrite = true to overwrite it.",
    )
    assert client.get("sys/policies/acl/pre-existing-denied").json()["data"]["policy"] == existing
    (terraform.workdir / "refused.tf").unlink()

    ok(terraform("destroy", "-auto-approve"))
    assert client.list("sys/namespaces").status_code == 404  # none left


def test_upstream_namespace_import_through_a_provider_alias(terraform, service, namespace):
    """The namespace docs' `terraform import` through an aliased provider, then `state show`."""
    client = service.client(namespace)
    assert client.post("sys/namespaces/example").status_code == 200  # the provider alias's namespace
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    values = {"@ADDRESS@": service.url, "@TOKEN@": service.root_token, "@NAMESPACE@": namespace}
    terraform.write("main.tf", fill(NAMESPACE_THROUGH_AN_ALIAS, values))
    ok(terraform("init"))
    apply(terraform)
    assert_empty_plan(terraform)

    ok(terraform("state", "rm", "vault_namespace.example2"))
    ok(terraform("import", "vault_namespace.example2", "example2"))
    shown = ok(terraform("state", "show", "vault_namespace.example2")).stdout
    assert f'id           = "{namespace}/example/example2/"' in shown, shown
    assert 'path_fq      = "example2"' in shown, shown
    assert_empty_plan(terraform)

    ok(terraform("destroy", "-auto-approve"))
    assert client.list("sys/namespaces").json()["data"]["keys"] == ["example/"]


# ---- data source vault_kv_secret_v2 -------------------------------------------------------------------
# Upstream: website/docs/d/kv_secret_v2.html.md and vault/data_source_kv_secret_v2_test.go
# (TestDataSourceKVV2Secret with and without `version`, TestDataSourceKVV2Secret_deletedSecret). Upstream
# writes the secret with `vault_mount` and `vault_kv_secret_v2` resources, which this provider does not
# have (docs/compatibility.md): here the secret is written over HTTP, at the engine every namespace has.

KV_SECRETS = """\
# TestDataSourceKVV2Secret: the latest version, then the same with `version = 1`
data "vault_kv_secret_v2" "test" {
  mount = "secret"
  name  = "shapes/foo"
}

data "vault_kv_secret_v2" "first" {
  mount   = "secret"
  name    = "shapes/foo"
  version = 1
}

# TestDataSourceKVV2Secret_deletedSecret: a secret deleted out of band plans without an error
data "vault_kv_secret_v2" "deleted" {
  mount = "secret"
  name  = "shapes/deleted"
}
"""


def test_upstream_kv_secret_v2_data_source_shapes(terraform, service, namespace):
    client = service.client(namespace)
    first = {"zip": "zap", "foo": "bar", "test": False, "baz": {"riff": "raff"}}
    for data in (first, {**first, "zip": "zop"}):
        assert client.post("secret/data/shapes/foo", json={"data": data}).status_code == 200
    assert client.post("secret/data/shapes/deleted", json={"data": {"foo": "bar", "baz": "qux"}}).status_code == 200
    assert client.delete("secret/data/shapes/deleted").status_code == 204
    start(terraform, service, namespace, KV_SECRETS)

    apply(terraform)
    assert_empty_plan(terraform)
    latest = data_values(terraform, "data.vault_kv_secret_v2.test")
    version_1 = data_values(terraform, "data.vault_kv_secret_v2.first")
    for secret, zip_ in ((latest, "zop"), (version_1, "zap")):
        assert (secret["mount"], secret["name"], secret["path"]) == ("secret", "shapes/foo", "secret/data/shapes/foo")
        assert secret["destroyed"] is False
        assert secret["data"] == {"zip": zip_, "foo": "bar", "test": "false", "baz": '{"riff":"raff"}'}
        assert json.loads(secret["data_json"]) == {**first, "zip": zip_}
    deleted = data_values(terraform, "data.vault_kv_secret_v2.deleted")
    assert (deleted["data"], deleted["data_json"], deleted["destroyed"]) == ({}, "null", False)
    assert deleted["deletion_time"]


# ---- upstream HCL refused here on purpose -------------------------------------------------------------
# Each row of docs/compatibility.md's table of upstream HCL that does not run here, checked at validate
# time (the server is not needed): the exact message a user sees.

REFUSED = """\
# vault/resource_identity_entity_test.go TestAccIdentityEntityUpdateRemovePolicies: policies next to
# external_policies = true
resource "vault_identity_entity" "external_policies" {
  name              = "test-entity-3"
  policies          = ["dev", "test"]
  external_policies = true
}

# vault/resource_identity_entity_alias_test.go (every alias test) and the KV and namespace docs: resource
# types this provider does not ship
resource "vault_auth_backend" "github" {
  type = "github"
  path = "github"
}

resource "vault_mount" "kvv2" {
  path    = "kvv2"
  type    = "kv"
  options = { version = "2" }
}

resource "vault_kv_secret_v2" "example" {
  mount     = vault_mount.kvv2.path
  name      = "secret"
  data_json = jsonencode({ zip = "zap" })
}

resource "vault_generic_secret" "example" {
  path      = "secret/example"
  data_json = jsonencode({ zip = "zap" })
}

# data sources of the upstream namespace and identity docs this provider does not ship
data "vault_namespace" "current" {}

data "vault_identity_entity" "entity" {
  entity_name = "entity_12345"
}

# vault/resource_identity_group_test.go testAccIdentityGroupConfigExternalMembers: member lists on an
# external group, which upstream ignores
resource "vault_identity_group" "external_members" {
  name     = "external-group"
  type     = "external"
  policies = ["test"]

  member_entity_ids = ["member entities can't be set for external groups"]
  member_group_ids  = ["member groups can't be set for external groups"]
}

# website/docs/r/activation_flags.html.md: a feature this service does not have
resource "vault_activation_flags" "example" {
  feature = "secrets-sync"
}

# vault/resource_namespace_test.go TestAccNamespace: a path with a leading or trailing "/"
resource "vault_namespace" "trailing" {
  path = "team/"
}

resource "vault_namespace" "leading" {
  path = "/team"
}

resource "vault_namespace" "both" {
  path = "/team/"
}
"""

NAMESPACE_RULE = '(letters, digits, "-", "_", "." (starting with a letter or digit); at most 64 characters; no "/").'


def test_upstream_hcl_refused_here_says_what_is_wrong(terraform, service, namespace):
    start(terraform, service, namespace, REFUSED)
    result = fails(
        terraform("validate"),
        *(f'The provider vaultguard/vault does not support resource type "{kind}".'
          for kind in ("vault_auth_backend", "vault_mount", "vault_kv_secret_v2", "vault_generic_secret")),
        *(f'The provider vaultguard/vault does not support data source "{kind}".'
          for kind in ("vault_namespace", "vault_identity_entity")),
        "Error: Conflicting configuration arguments",
        "policies must not be set when external_policies is true: the entity's policies are then managed "
        "outside this resource.",
        "Error: Invalid attribute combination",
        "member_entity_ids must not be set on an external group: its members come from its group alias.",
        "member_group_ids must not be set on an external group: its members come from its group alias.",
        "Error: Invalid value for feature",
        'feature must be an activation flag of the service ("oauth-resource-server"); got "secrets-sync"',
        "Error: Invalid value for path",
        *(f'path "{bad}" is not a valid namespace name {NAMESPACE_RULE}' for bad in ("team/", "/team", "/team/")),
    )  # fmt: skip
    assert result.stderr.count("Error: ") == 13, result.stderr
