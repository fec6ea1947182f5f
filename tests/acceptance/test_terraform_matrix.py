"""Terraform as its users write it, on two Terraform releases (unknown values: DECISIONS.md#d61).

Each scenario is a configuration a team would write, run through the real Terraform CLI: applied, planned
empty, changed and destroyed, with what Terraform did checked on the server over its HTTP API. Scenarios
group features so that they share one `terraform init` (each command costs about a second):

- the world: `count`, `for_each` over maps of objects, a local module instantiated with `for_each`, dynamic
  `public_keys` blocks (known and unknown `for_each`), values known only after apply (`terraform_data`),
  namespaces created in the same run, data sources with unknown arguments, sensitive variables and secrets,
  `check` blocks, `lifecycle` (`ignore_changes`, `create_before_destroy`), `moved` and `removed` blocks;
- provider aliases per namespace (the namespaces created in the same run), the local module instantiated
  with `count` through an alias;
- CLI habits: `-target`, `-replace`, `-refresh-only`, `prevent_destroy`;
- imports: `terraform import` into a `for_each` instance address, `import {}` blocks with `for_each`;
- workspaces: one namespace per `terraform.workspace`;
- `terraform test`: plan and apply runs with asserts;
- examples/terraform/agents_for_each/ as a reader would use it.

Every resource type and data source appears with arguments unknown at plan time (`terraform_data` outputs,
other resources' ids, `each.key`, `count.index`, module variables), which Terraform >= 1.6 sends as refined
unknowns. Each test runs once per release (`terraform_release`: the bundled CLI, and the older `terraform`
on PATH through `TERRAFORM=`).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from acceptance.conftest import PROVIDER_REQUIREMENT
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tf_steps import CHANGES, NO_CHANGES, apply, assert_empty_plan, assert_plans, fails, ok, plan

pytestmark = pytest.mark.terraform

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "terraform" / "agents_for_each"
MODULE = EXAMPLE / "modules" / "agent"

# The provider's settings come in as variables, the token a sensitive one (as a CI job passes them).
PROVIDER_SETTINGS = (
    PROVIDER_REQUIREMENT
    + """
variable "address" {
  type = string
}

variable "token" {
  type      = string
  sensitive = true
}

variable "namespace" {
  type = string
}

provider "vault" {
  address   = var.address
  token     = var.token
  namespace = var.namespace
}
"""
)


# ---- helpers ------------------------------------------------------------------------------------------


@pytest.fixture
def tf(terraform, terraform_release, service, namespace):
    """The Terraform CLI of this release, with the provider's settings (variables) for `namespace`."""
    terraform_release.use(terraform)
    terraform.env.update(TF_VAR_address=service.url, TF_VAR_token=service.root_token, TF_VAR_namespace=namespace)
    terraform.write("provider.tf", PROVIDER_SETTINGS)
    return terraform


def listed(client: Any, path: str) -> list[str]:
    """The keys a LIST of `path` answers (none: Vault answers an empty list with 404)."""
    resp = client.list(path)
    if resp.status_code == 404:
        return []
    assert resp.status_code == 200, resp.text
    return sorted(resp.json()["data"]["keys"])


def registrations(client: Any) -> dict[str, dict[str, Any]]:
    """Every registration of the client's namespace, by display name."""
    found = {}
    for reg_id in listed(client, "agent-registry/registration/id"):
        record = read(client, f"agent-registry/registration/id/{reg_id}")
        found[record["display_name"]] = record
    return found


def read(client: Any, path: str) -> dict[str, Any] | None:
    resp = client.get(path)
    if resp.status_code == 404:
        return None
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def entities(client: Any) -> list[str]:
    return listed(client, "identity/entity/name")


def policies(client: Any) -> list[str]:
    """The namespace's policies, without those every namespace has."""
    return [name for name in listed(client, "sys/policies/acl") if name not in ("default", "default-ceiling", "root")]


def profiles(client: Any) -> list[str]:
    return listed(client, "sys/config/oauth-resource-server")


def state_instances(terraform: Any) -> dict[str, dict[str, Any]]:
    """Every managed resource instance in the local state file, by address (`module.m["k"].type.name[0]`).
    Read from the file rather than with `terraform show -json`: each Terraform command costs about a second."""
    state = json.loads((terraform.workdir / "terraform.tfstate").read_text())
    found = {}
    for resource in state["resources"]:
        if resource["mode"] != "managed":
            continue
        prefix = resource["module"] + "." if "module" in resource else ""
        for instance in resource["instances"]:
            key = instance.get("index_key")
            suffix = "" if key is None else f"[{json.dumps(key)}]"
            found[f"{prefix}{resource['type']}.{resource['name']}{suffix}"] = instance["attributes"]
    return found


def state_of(terraform: Any, address: str) -> dict[str, Any]:
    """One instance's attributes in the local state file."""
    instances = state_instances(terraform)
    assert address in instances, f"{address} not in state: {sorted(instances)}"
    return instances[address]


def public_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def write_vars(terraform: Any, **values: Any) -> None:
    terraform.write("terraform.tfvars.json", json.dumps(values, indent=2))


def copy_module(terraform: Any) -> None:
    """The example's agent module, as `./modules/agent` (a local module, as teams keep theirs)."""
    shutil.copytree(MODULE, terraform.workdir / "modules" / "agent")


# ---- the world: most features in one configuration ---------------------------------------------------

WORLD = """
variable "run" {
  type = string
}

variable "ceilings" {
  type = number
}

variable "agents" {
  type = map(object({
    owner   = string
    subject = string
  }))
}

variable "keys" {
  type = map(string)
}

variable "late_keys" {
  type = map(string)
}

variable "contact" {
  type      = string
  sensitive = true
}

# Values known only after apply: the output of terraform_data (on create and whenever its input changes)
# and its id.
resource "terraform_data" "run" {
  input = var.run
}

resource "terraform_data" "late_keys" {
  input = var.late_keys
}

# A namespace per team, created here; objects go into it through their own `namespace` argument (provider
# aliases per namespace are the next scenario's).
resource "vault_namespace" "team" {
  for_each = toset(["a", "b"])

  path = "team-${each.key}"
  custom_metadata = {
    run      = terraform_data.run.output
    run_id   = terraform_data.run.id
    team_key = each.key
  }
}

resource "vault_policy" "per_team" {
  for_each = vault_namespace.team

  namespace = each.value.path_fq
  name      = "team-${each.key}-writer"
  policy    = "path \\"secret/data/${each.value.path}/*\\" {\\n  capabilities = [\\"update\\"]\\n}\\n"
}

# count, with names from count.index and policy text known only after apply.
resource "vault_policy" "ceiling" {
  count = var.ceilings

  name   = "ceiling-${count.index}"
  policy = <<-EOT
    path "secret/data/${terraform_data.run.output}/${count.index}/*" {
      capabilities = ["read"]
    }
  EOT
}

resource "vault_oauth_resource_server_config_profile" "idp" {
  profile_name = "idp"
  issuer_id    = "https://IdP.matrix.example/"
  jwks_uri     = "https://idp.matrix.example/.well-known/jwks.json"
}

# A local module for_each over a map of objects: entity, alias and registration per agent.
module "agent" {
  source   = "./modules/agent"
  for_each = var.agents

  name             = each.key
  owner            = each.value.owner
  description      = "run ${terraform_data.run.output}"
  subject          = each.value.subject
  ceiling_policies = vault_policy.ceiling[*].name
  issuer           = vault_oauth_resource_server_config_profile.idp.issuer_id
}

# Dynamic blocks: keys known at plan time, and keys known only after apply.
resource "vault_oauth_resource_server_config_profile" "static" {
  profile_name = "static-${terraform_data.run.output}"
  issuer_id    = "https://static.matrix.example/${var.run}"
  use_jwks     = false

  dynamic "public_keys" {
    for_each = var.keys
    content {
      key_id = public_keys.key
      pem    = public_keys.value
    }
  }
}

resource "vault_oauth_resource_server_config_profile" "late" {
  profile_name = "late"
  issuer_id    = "https://late.matrix.example"
  use_jwks     = false

  dynamic "public_keys" {
    for_each = terraform_data.late_keys.output
    content {
      key_id = public_keys.key
      pem    = public_keys.value
    }
  }
}

# Data sources whose arguments are known only after apply: read during apply.
data "vault_kv_secret_v2" "config" {
  mount = "secret"
  name  = "${terraform_data.run.output}/config"
}

data "vault_agent_registration" "alpha" {
  id = module.agent["alpha"].registration_id

  # A reference alone does not wait for the registration's updates (only for its creation): Terraform
  # defers a data source to apply when what it depends on has changes pending.
  depends_on = [module.agent]
}

data "vault_oauth_resource_server_config_profile" "static" {
  profile_name = vault_oauth_resource_server_config_profile.static.profile_name
}

# lifecycle: metadata is someone else's business; a renamed policy is created before the old one goes.
resource "vault_identity_entity" "ignored" {
  name = "ignored"
  metadata = {
    set_by = var.run
  }
  lifecycle {
    ignore_changes = [metadata]
  }
}

resource "vault_policy" "rotating" {
  name   = "rotating-${terraform_data.run.output}"
  policy = "path \\"secret/data/rotating/*\\" {\\n  capabilities = [\\"read\\"]\\n}\\n"
  lifecycle {
    create_before_destroy = true
  }
}

# A check on what the server holds, through a data source read at every plan. (A data source inside the
# check block would be read again at every apply, so `plan -detailed-exitcode` would never be 0: Terraform's
# rule, shown in the CLI test.)
check "config_names_an_owner" {
  assert {
    condition     = data.vault_kv_secret_v2.config.data["owner"] != ""
    error_message = "The configuration secret names no owner."
  }
}

output "config_owner" {
  value     = data.vault_kv_secret_v2.config.data["owner"]
  sensitive = true
}
"""

# Stage one declares `auditor` and `forgotten`; stage two renames the first (moved) and lets the second go
# without destroying it (removed).
AUDITOR_BODY = """
  name = "auditor"
  metadata = {
    contact       = var.contact
    config_owner  = data.vault_kv_secret_v2.config.data["owner"]
    alpha_owner   = data.vault_agent_registration.alpha.owner
    static_issuer = data.vault_oauth_resource_server_config_profile.static.issuer_id
  }
"""

STAGE_ONE = f"""
resource "vault_identity_entity" "auditor" {{{AUDITOR_BODY}}}

resource "vault_policy" "forgotten" {{
  name   = "forgotten"
  policy = "path \\"secret/data/forgotten/*\\" {{\\n  capabilities = [\\"read\\"]\\n}}\\n"
}}
"""

STAGE_TWO = f"""
resource "vault_identity_entity" "audit" {{{AUDITOR_BODY}}}

moved {{
  from = vault_identity_entity.auditor
  to   = vault_identity_entity.audit
}}

removed {{
  from = vault_policy.forgotten
  lifecycle {{
    destroy = false
  }}
}}
"""

CONTACT = "pager-7731@matrix.example"  # the sensitive variable's value: never printed


def test_the_world_configuration_applies_plans_empty_changes_and_destroys(tf, service, namespace):
    client = service.client(namespace)
    team_a = service.client(f"{namespace}/team-a")
    for run in ("r1", "r2"):
        resp = client.post(f"secret/data/{run}/config", json={"data": {"owner": f"owner-{run}"}})
        assert resp.status_code == 200, resp.text
    keys = {"k1": public_pem(), "k2": public_pem()}
    late_keys = {"l1": public_pem(), "l2": public_pem()}
    agents = {"alpha": {"owner": "team-alpha", "subject": "alpha"}, "beta": {"owner": "team-beta", "subject": "beta"}}
    copy_module(tf)
    tf.write("main.tf", WORLD + STAGE_ONE)
    write_vars(tf, run="r1", ceilings=2, agents=agents, keys=keys, late_keys=late_keys, contact=CONTACT)
    ok(tf("init"))

    # -- apply: unknown names, policy text, blocks, provider namespaces and data source arguments
    applied = apply(tf)
    for data_source in ("vault_kv_secret_v2.config", "vault_agent_registration.alpha"):
        assert f"data.{data_source} will be read during apply" in applied.stdout, applied.stdout
    assert CONTACT not in applied.stdout + applied.stderr
    assert "Check block assertion failed" not in applied.stdout + applied.stderr

    assert policies(client) == ["ceiling-0", "ceiling-1", "forgotten", "rotating-r1"]
    assert read(client, "sys/policies/acl/ceiling-1")["policy"].startswith('path "secret/data/r1/1/*"')
    assert profiles(client) == ["idp", "late", "static-r1"]
    static = read(client, "sys/config/oauth-resource-server/static-r1")
    assert sorted(k["key_id"] for k in static["public_keys"]) == ["k1", "k2"]
    late = read(client, "sys/config/oauth-resource-server/late")
    assert sorted(k["key_id"] for k in late["public_keys"]) == ["l1", "l2"]
    agents_on_server = registrations(client)
    assert sorted(agents_on_server) == ["alpha", "beta"]
    assert agents_on_server["alpha"]["owner"] == "team-alpha"
    assert agents_on_server["alpha"]["description"] == "run r1"
    assert agents_on_server["alpha"]["ceiling_policies"][:2] == ["ceiling-0", "ceiling-1"]
    assert entities(client) == ["alpha", "auditor", "beta", "ignored"]
    auditor_id = state_of(tf, "vault_identity_entity.auditor")["id"]
    assert read(client, f"identity/entity/id/{auditor_id}")["metadata"] == {
        "contact": CONTACT,
        "config_owner": "owner-r1",
        "alpha_owner": "team-alpha",
        "static_issuer": "https://static.matrix.example/r1",
    }
    alias_id = state_of(tf, 'module.agent["alpha"].vault_identity_entity_alias.this')["id"]
    alias = read(client, f"identity/entity-alias/id/{alias_id}")
    assert (alias["name"], alias["canonical_id"]) == ("alpha@oauth", agents_on_server["alpha"]["entity_id"])
    assert listed(client, "sys/namespaces") == ["team-a/", "team-b/"]
    assert read(client, "sys/namespaces/team-a")["custom_metadata"]["run"] == "r1"
    assert policies(team_a) == ["team-a-writer"]
    assert tf.output("config_owner") == "owner-r1"
    assert_empty_plan(tf)

    # -- drift: ignore_changes holds; the check block sees the emptied secret and warns
    ignored_id = state_of(tf, "vault_identity_entity.ignored")["id"]
    resp = client.post(f"identity/entity/id/{ignored_id}", json={"metadata": {"set_by": "an operator"}})
    assert resp.status_code == 200, resp.text
    resp = client.post("secret/data/r1/config", json={"data": {"owner": ""}})
    assert resp.status_code == 200, resp.text
    drift = assert_plans(
        tf, "# vault_identity_entity.auditor will be updated", absent=("# vault_identity_entity.ignored",)
    )
    assert "Check block assertion failed" in drift.stdout + drift.stderr
    assert "The configuration secret names no owner." in drift.stdout + drift.stderr

    # -- change: new run (every terraform_data output unknown again), one more ceiling, agents added,
    # changed and removed, a key rotated in, an entity renamed (moved), a policy let go (removed)
    agents = {
        "alpha": {"owner": "team-alpha-2", "subject": "alpha"},
        "gamma": {"owner": "team-gamma", "subject": "gamma"},
    }
    late_keys["l3"] = public_pem()
    tf.write("main.tf", WORLD + STAGE_TWO)
    write_vars(tf, run="r2", ceilings=3, agents=agents, keys=keys, late_keys=late_keys, contact=CONTACT)
    changed = apply(tf)
    assert "# (moved from vault_identity_entity.auditor)" in changed.stdout
    assert "vault_policy.forgotten will no longer be managed by Terraform" in changed.stdout
    assert '+/- resource "vault_policy" "rotating"' in changed.stdout  # create_before_destroy
    assert CONTACT not in changed.stdout + changed.stderr
    assert "Check block assertion failed" not in changed.stdout + changed.stderr

    assert policies(client) == ["ceiling-0", "ceiling-1", "ceiling-2", "forgotten", "rotating-r2"]
    assert read(client, "sys/policies/acl/ceiling-2")["policy"].startswith('path "secret/data/r2/2/*"')
    assert profiles(client) == ["idp", "late", "static-r2"]
    late = read(client, "sys/config/oauth-resource-server/late")
    assert sorted(k["key_id"] for k in late["public_keys"]) == ["l1", "l2", "l3"]
    agents_on_server = registrations(client)
    assert sorted(agents_on_server) == ["alpha", "gamma"]
    assert (agents_on_server["alpha"]["owner"], agents_on_server["alpha"]["description"]) == ("team-alpha-2", "run r2")
    assert agents_on_server["gamma"]["ceiling_policies"][:3] == ["ceiling-0", "ceiling-1", "ceiling-2"]
    assert entities(client) == ["alpha", "auditor", "gamma", "ignored"]
    assert state_of(tf, "vault_identity_entity.audit")["id"] == auditor_id  # moved, not replaced
    assert read(client, f"identity/entity/id/{auditor_id}")["metadata"]["config_owner"] == "owner-r2"
    assert read(client, f"identity/entity/id/{ignored_id}")["metadata"] == {"set_by": "an operator"}
    assert "vault_policy.forgotten" not in state_instances(tf)
    assert read(client, "sys/namespaces/team-b")["custom_metadata"]["run"] == "r2"
    assert_empty_plan(tf)

    # -- destroy: everything Terraform manages goes; what `removed` let go stays
    ok(tf("destroy", "-auto-approve"))
    assert policies(client) == ["forgotten"]
    assert (registrations(client), entities(client), profiles(client)) == ({}, [], [])
    assert listed(client, "sys/namespaces") == []


# ---- provider aliases per namespace ------------------------------------------------------------------------

# A provider configuration per namespace, the namespaces created in the same run. A provider's arguments
# must be known at plan time, so its namespace is spelled out and what uses it depends on the namespace.
# (Terraform starts the provider once per configuration: this scenario is kept apart from the world, whose
# single configuration lets the suite attach Terraform to a running provider.)
ALIASES = """
variable "helpers" {
  type = number
}

resource "vault_namespace" "team" {
  for_each = toset(["a", "b"])

  path = "team-${each.key}"
}

provider "vault" {
  alias     = "team_a"
  address   = var.address
  token     = var.token
  namespace = "${var.namespace}/team-a"
}

provider "vault" {
  alias     = "team_b"
  address   = var.address
  token     = var.token
  namespace = "${var.namespace}/team-b"
}

# Team b's objects through its provider alias: a profile, a policy and the agent module with count.
resource "vault_oauth_resource_server_config_profile" "team_b" {
  provider   = vault.team_b
  depends_on = [vault_namespace.team]

  profile_name = "team-b-idp"
  issuer_id    = "https://team-b.matrix.example"
  jwks_uri     = "https://team-b.matrix.example/jwks"
}

resource "vault_policy" "team_b" {
  provider   = vault.team_b
  depends_on = [vault_namespace.team]

  name   = "helper-ceiling"
  policy = "path \\"secret/data/team-b/*\\" {\\n  capabilities = [\\"read\\"]\\n}\\n"
}

module "helper" {
  source = "./modules/agent"
  count  = var.helpers
  providers = {
    vault = vault.team_b
  }
  depends_on = [vault_namespace.team]

  name             = "helper-${count.index}"
  owner            = "team-b"
  subject          = "helper-${count.index}"
  ceiling_policies = [vault_policy.team_b.name]
  issuer           = vault_oauth_resource_server_config_profile.team_b.issuer_id
}

resource "vault_policy" "team_a" {
  provider   = vault.team_a
  depends_on = [vault_namespace.team]

  name   = "team-a-reader"
  policy = "path \\"secret/data/team-a/*\\" {\\n  capabilities = [\\"read\\"]\\n}\\n"
}
"""


def test_provider_aliases_place_objects_in_namespaces_created_in_the_same_run(tf, service, namespace):
    team_a, team_b = service.client(f"{namespace}/team-a"), service.client(f"{namespace}/team-b")
    copy_module(tf)
    tf.write("main.tf", ALIASES)
    write_vars(tf, helpers=2)
    ok(tf("init"))

    apply(tf)
    assert policies(team_a) == ["team-a-reader"]
    assert sorted(registrations(team_b)) == ["helper-0", "helper-1"]
    assert registrations(team_b)["helper-1"]["ceiling_policies"][:1] == ["helper-ceiling"]
    assert entities(team_b) == ["helper-0", "helper-1"]
    assert profiles(team_b) == ["team-b-idp"]
    assert policies(team_b) == ["helper-ceiling"]
    assert (registrations(service.client(namespace)), entities(service.client(namespace))) == ({}, [])
    assert_empty_plan(tf)

    ok(tf("destroy", "-auto-approve"))
    assert listed(service.client(namespace), "sys/namespaces") == []


# ---- CLI habits: -target, -replace, -refresh-only, prevent_destroy ----------------------------------------

HABITS = """
resource "vault_policy" "ceiling" {
  name   = "habit-ceiling"
  policy = "path \\"secret/data/habit/*\\" {\\n  capabilities = [\\"read\\"]\\n}\\n"
}

resource "vault_identity_entity" "bot" {
  name = "habit-bot"
}

resource "vault_agent_registration" "bot" {
  display_name     = "habit-bot"
  entity_id        = vault_identity_entity.bot.id
  owner            = "ops"
  ceiling_policies = [vault_policy.ceiling.name]
}

resource "vault_policy" "keep" {
  name   = "keep"
  policy = "path \\"secret/data/keep/*\\" {\\n  capabilities = [\\"read\\"]\\n}\\n"
  lifecycle {
    prevent_destroy = PREVENT
  }
}
"""

# A data source inside a check block is read again at every apply: even with nothing to change, the plan
# holds that read, so `plan -detailed-exitcode` is 2 (Terraform's rule, the same with any provider).
SCOPED_CHECK = """
check "bot_is_owned" {
  data "vault_agent_registration" "bot" {
    display_name = "habit-bot"
  }

  assert {
    condition     = data.vault_agent_registration.bot.owner == "ops"
    error_message = "habit-bot's owner is no longer ops."
  }
}
"""


def test_cli_habits_target_replace_refresh_only_and_prevent_destroy(tf, service, namespace):
    client = service.client(namespace)
    tf.write("main.tf", HABITS.replace("PREVENT", "true"))
    ok(tf("init"))

    # -target: the registration and what it needs, nothing else
    targeted = apply(tf, "-target=vault_agent_registration.bot")
    assert "Resource targeting is in effect" in targeted.stdout + targeted.stderr
    assert (policies(client), entities(client), sorted(registrations(client))) == (
        ["habit-ceiling"],
        ["habit-bot"],
        ["habit-bot"],
    )
    apply(tf)  # now `keep` too
    assert policies(client) == ["habit-ceiling", "keep"]
    assert_empty_plan(tf)

    # -replace: a new entity, and the registration (entity_id forces replacement) follows it
    old_entity = state_of(tf, "vault_identity_entity.bot")["id"]
    apply(tf, "-replace=vault_identity_entity.bot")
    new_entity = state_of(tf, "vault_identity_entity.bot")["id"]
    assert new_entity != old_entity
    assert read(client, f"identity/entity/id/{old_entity}") is None
    assert registrations(client)["habit-bot"]["entity_id"] == new_entity

    # -refresh-only: drift is shown, then accepted into state without touching the server; a normal
    # plan then puts the configuration back
    reg_id = state_of(tf, "vault_agent_registration.bot")["id"]
    edit = {"entity_id": new_entity, "ceiling_policies": ["habit-ceiling"], "owner": "someone-else"}
    resp = client.post(f"agent-registry/registration/id/{reg_id}", json=edit)  # an update sends every field
    assert resp.status_code in (200, 204), resp.text
    refresh = plan(tf, "-refresh-only")
    assert refresh.rc == CHANGES and "someone-else" in refresh.stdout, refresh.stdout
    apply(tf, "-refresh-only")
    assert state_of(tf, "vault_agent_registration.bot")["owner"] == "someone-else"
    assert registrations(client)["habit-bot"]["owner"] == "someone-else"
    assert_plans(tf, '~ owner                          = "someone-else" -> "ops"')
    apply(tf)
    assert registrations(client)["habit-bot"]["owner"] == "ops"
    assert_empty_plan(tf)

    # a check with its own data source: nothing to change, yet the plan reads it again at apply
    tf.write("check.tf", SCOPED_CHECK)
    checked = plan(tf)
    assert checked.rc == CHANGES
    assert "(config will be reloaded to verify a check block)" in checked.stdout
    assert "Plan: 0 to add, 0 to change, 0 to destroy." in checked.stdout
    assert "Check block assertion failed" not in checked.stdout + checked.stderr
    (tf.workdir / "check.tf").unlink()

    # prevent_destroy: destroy refuses and nothing is deleted; without it, everything goes
    fails(tf("destroy", "-auto-approve"), "Instance cannot be destroyed", "vault_policy.keep")
    assert policies(client) == ["habit-ceiling", "keep"]
    assert sorted(registrations(client)) == ["habit-bot"]
    tf.write("main.tf", HABITS.replace("PREVENT", "false"))
    ok(tf("destroy", "-auto-approve"))
    assert (policies(client), entities(client), registrations(client)) == ([], [], {})


# ---- imports: CLI into a for_each instance, import {} blocks with for_each --------------------------------

IMPORTS = """
variable "entity_ids" {
  type = map(string)
}

variable "owners" {
  type = map(string)
}

resource "vault_policy" "p" {
  for_each = toset(["a", "b"])

  name   = "imp-${each.key}"
  policy = <<-EOT
    path "secret/data/imp-${each.key}/*" {
      capabilities = ["read"]
    }
  EOT
}

import {
  for_each = var.entity_ids
  to       = vault_identity_entity.agent[each.key]
  id       = each.value
}

import {
  for_each = var.owners
  to       = vault_agent_registration.agent[each.key]
  id       = "imp-${each.key}"
}

resource "vault_identity_entity" "agent" {
  for_each = var.owners

  name = "imp-${each.key}"
}

resource "vault_agent_registration" "agent" {
  for_each = var.owners

  display_name     = "imp-${each.key}"
  entity_id        = vault_identity_entity.agent[each.key].id
  owner            = each.value
  ceiling_policies = [vault_policy.p["a"].name]
}
"""


def test_imports_into_for_each_instances_by_cli_and_by_import_blocks(tf, service, namespace):
    client = service.client(namespace)
    text = 'path "secret/data/imp-a/*" {\n  capabilities = ["read"]\n}\n'  # as the configuration writes it
    resp = client.post("sys/policies/acl/imp-a", json={"policy": text})
    assert resp.status_code in (200, 204), resp.text
    owners = {"x": "ops", "y": "research"}
    entity_ids, registration_ids = {}, {}
    for key, owner in owners.items():
        resp = client.post("identity/entity", json={"name": f"imp-{key}"})
        assert resp.status_code == 200, resp.text
        entity_ids[key] = resp.json()["data"]["id"]
        body = {"display_name": f"imp-{key}", "entity_id": entity_ids[key], "owner": owner}
        body["ceiling_policies"] = ["imp-a"]
        resp = client.post("agent-registry/register", json=body)
        assert resp.status_code == 200, resp.text
        registration_ids[key] = resp.json()["data"]["id"]
    tf.write("main.tf", IMPORTS)
    write_vars(tf, entity_ids=entity_ids, owners=owners)
    ok(tf("init"))

    # the CLI, into a for_each instance address; then the import blocks, in the same apply as a create
    imported = ok(tf("import", 'vault_policy.p["a"]', "imp-a"))
    assert "Import successful!" in imported.stdout
    applied = apply(tf)
    assert "Resources: 4 imported, 1 added, 0 changed, 0 destroyed." in applied.stdout, applied.stdout
    for key in owners:
        assert state_of(tf, f'vault_identity_entity.agent["{key}"]')["id"] == entity_ids[key]
        assert state_of(tf, f'vault_agent_registration.agent["{key}"]')["id"] == registration_ids[key]
    assert policies(client) == ["imp-a", "imp-b"]
    assert_empty_plan(tf)

    # a change through the imported instances, then destroy
    write_vars(tf, entity_ids=entity_ids, owners={"x": "ops", "y": "research-2"})
    apply(tf)
    on_server = registrations(client)
    assert (on_server["imp-y"]["id"], on_server["imp-y"]["owner"]) == (registration_ids["y"], "research-2")
    assert_empty_plan(tf)
    ok(tf("destroy", "-auto-approve"))
    assert (policies(client), entities(client), registrations(client)) == ([], [], {})


# ---- workspaces: one namespace per terraform.workspace ----------------------------------------------------

PER_WORKSPACE = """
variable "owner" {
  type    = string
  default = "platform"
}

resource "vault_policy" "reader" {
  name   = "${terraform.workspace}-reader"
  policy = <<-EOT
    path "secret/data/${terraform.workspace}/*" {
      capabilities = ["read"]
    }
  EOT
}

resource "vault_identity_entity" "bot" {
  name = "${terraform.workspace}-bot"
}

resource "vault_agent_registration" "bot" {
  display_name     = "${terraform.workspace}-bot"
  entity_id        = vault_identity_entity.bot.id
  owner            = var.owner
  ceiling_policies = [vault_policy.reader.name]
}
"""


def test_workspaces_each_manage_their_own_namespace(tf, service, namespace):
    for workspace in ("staging", "prod"):
        assert service.client(namespace).post(f"sys/namespaces/{workspace}").status_code == 200
    staging, prod = service.client(f"{namespace}/staging"), service.client(f"{namespace}/prod")
    tf.write("provider.tf", PROVIDER_SETTINGS.replace("= var.namespace", '= "${var.namespace}/${terraform.workspace}"'))
    tf.write("main.tf", PER_WORKSPACE)
    ok(tf("init"))

    for workspace in ("staging", "prod"):
        ok(tf("workspace", "new", workspace))
        apply(tf)
    assert_empty_plan(tf)
    assert (policies(staging), entities(staging), sorted(registrations(staging))) == (
        ["staging-reader"],
        ["staging-bot"],
        ["staging-bot"],
    )
    assert (policies(prod), entities(prod), sorted(registrations(prod))) == (
        ["prod-reader"],
        ["prod-bot"],
        ["prod-bot"],
    )
    assert (tf.workdir / "terraform.tfstate.d" / "staging" / "terraform.tfstate").exists()

    # a change in one workspace leaves the other alone
    ok(tf("workspace", "select", "staging"))
    apply(tf, "-var=owner=qa")
    assert plan(tf, "-var=owner=qa").rc == NO_CHANGES
    assert registrations(staging)["staging-bot"]["owner"] == "qa"
    assert registrations(prod)["prod-bot"]["owner"] == "platform"

    ok(tf("destroy", "-auto-approve", "-var=owner=qa"))
    assert (policies(staging), entities(staging), registrations(staging)) == ([], [], {})
    assert sorted(registrations(prod)) == ["prod-bot"]
    ok(tf("workspace", "select", "prod"))
    ok(tf("destroy", "-auto-approve"))
    assert (policies(prod), entities(prod), registrations(prod)) == ([], [], {})


# ---- terraform test: plan and apply runs with asserts ------------------------------------------------------

UNDER_TEST = """
variable "name" {
  type = string
}

variable "owner" {
  type    = string
  default = "qa"
}

resource "terraform_data" "name" {
  input = var.name
}

resource "vault_policy" "ceiling" {
  name   = "${terraform_data.name.output}-ceiling"
  policy = <<-EOT
    path "secret/data/${terraform_data.name.output}/*" {
      capabilities = ["read"]
    }
  EOT
}

resource "vault_identity_entity" "bot" {
  name = var.name
}

resource "vault_agent_registration" "bot" {
  display_name     = var.name
  entity_id        = vault_identity_entity.bot.id
  owner            = var.owner
  ceiling_policies = [vault_policy.ceiling.name]
}

# What the server holds, read back after every change.
data "vault_agent_registration" "bot" {
  id         = vault_agent_registration.bot.id
  depends_on = [vault_agent_registration.bot]
}
"""

AGENT_TESTS = """
variables {
  name = "tested-bot"
}

run "plan" {
  command = plan

  assert {
    condition     = vault_agent_registration.bot.display_name == "tested-bot"
    error_message = "The registration is not named after var.name."
  }

  assert {
    condition     = vault_agent_registration.bot.owner == "qa"
    error_message = "The registration's owner is not the default."
  }
}

run "apply" {
  assert {
    condition     = data.vault_agent_registration.bot.entity_id == vault_identity_entity.bot.id
    error_message = "The server's registration does not point at the entity."
  }

  assert {
    condition = data.vault_agent_registration.bot.ceiling_policies == tolist([
      "tested-bot-ceiling", "default", "default-ceiling",
    ])
    error_message = "The server's ceiling is not the policy plus the defaults."
  }
}

run "change" {
  variables {
    owner = "platform"
  }

  assert {
    condition     = data.vault_agent_registration.bot.owner == "platform"
    error_message = "The server's registration did not take the new owner."
  }
}
"""

# The same configuration, with an assert that must fail: `terraform test` evaluates asserts on real values.
WRONG_TESTS = """
variables {
  name = "wrong-bot"
}

run "apply" {
  assert {
    condition     = data.vault_agent_registration.bot.owner == "nobody"
    error_message = "The server's registration is not owned by nobody."
  }
}
"""


def test_terraform_test_files_with_plan_and_apply_runs(tf, service, namespace):
    client = service.client(namespace)
    tf.write("main.tf", UNDER_TEST)
    tf.write("tests/agent.tftest.hcl", AGENT_TESTS)
    tf.write("tests/wrong.tftest.hcl", WRONG_TESTS)
    ok(tf("init"))

    passed = ok(tf("test", "-no-color", "-filter=tests/agent.tftest.hcl"))
    assert "3 passed, 0 failed" in passed.stdout, passed.stdout
    failed = fails(tf("test", "-no-color", "-filter=tests/wrong.tftest.hcl"), "0 passed, 1 failed")
    assert "The server's registration is not owned by nobody." in failed.stdout + failed.stderr
    # each test file's objects were destroyed when it ended
    assert (policies(client), entities(client), registrations(client)) == ([], [], {})


# ---- examples/terraform/agents_for_each, as a reader uses it ------------------------------------------------

MORE_AGENTS = """
issuer = "https://agents.example.com/"

agents = {
  "deploy-bot" = {
    owner      = "release-team"
    subject    = "deploy-bot"
    read_paths = ["secret/data/payments/*"]
  }
  "triage-bot" = {
    owner      = "support-team"
    subject    = "triage-bot"
    read_paths = ["secret/data/tickets/*"]
  }
}
"""


def test_the_agents_for_each_example_adds_changes_and_removes_agents(terraform, terraform_release, service, namespace):
    client = service.client(namespace)
    terraform_release.use(terraform)
    terraform.env.update(VAULT_ADDR=service.url, VAULT_TOKEN=service.root_token, VAULT_NAMESPACE=namespace)
    shutil.copytree(EXAMPLE, terraform.workdir, dirs_exist_ok=True)
    ok(terraform("init"))

    apply(terraform)
    on_server = registrations(client)
    assert sorted(on_server) == ["deploy-bot", "report-bot"]
    assert (on_server["deploy-bot"]["owner"], on_server["deploy-bot"]["description"]) == (
        "platform-team",
        "Deploys the payments service from CI",
    )
    assert on_server["report-bot"]["ceiling_policies"][0] == "report-bot-ceiling"
    assert read(client, "sys/policies/acl/report-bot-ceiling")["policy"].count("capabilities") == 2
    alias_id = state_of(terraform, 'module.agent["report-bot"].vault_identity_entity_alias.this')["id"]
    alias = read(client, f"identity/entity-alias/id/{alias_id}")
    assert (alias["canonical_id"], alias["name"]) == (on_server["report-bot"]["entity_id"], "report-bot@oauth")
    assert terraform.output("registration_ids") == {name: record["id"] for name, record in on_server.items()}
    assert_empty_plan(terraform)

    # one agent changed, one removed, one added: only those change
    terraform.write("terraform.tfvars", MORE_AGENTS)
    apply(terraform)
    after = registrations(client)
    assert sorted(after) == ["deploy-bot", "triage-bot"]
    assert after["deploy-bot"]["id"] == on_server["deploy-bot"]["id"]
    assert after["deploy-bot"]["owner"] == "release-team"
    assert entities(client) == ["deploy-bot", "triage-bot"]
    assert policies(client) == ["deploy-bot-ceiling", "triage-bot-ceiling"]

    ok(terraform("destroy", "-auto-approve"))
    assert (registrations(client), entities(client), policies(client), profiles(client)) == ({}, [], [], [])


def test_the_terraform_guide_shows_the_example_as_it_is():
    """docs/terraform.md quotes the example's files: every paragraph of HCL it shows is in the file it names."""
    guide = (EXAMPLE.parents[2] / "docs" / "terraform.md").read_text()
    quoted = re.findall(r"```terraform\n# (examples/terraform/agents_for_each/\S+)[^\n]*\n(.*?)```", guide, re.S)
    assert len(quoted) == 3, "the guide no longer quotes the example's three files"
    for path, text in quoted:
        source = (EXAMPLE.parents[2] / path).read_text()
        for paragraph in text.strip().split("\n\n"):
            assert paragraph in source, f"docs/terraform.md shows, as {path}:\n{paragraph}"
