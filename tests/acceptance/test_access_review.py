"""`vaultguard access-review` on real plans (`terraform show -json`), against the real service.

One applied configuration, then one change that covers the cases a reviewer meets: a ceiling widened by a
policy's text alone (with a `+` segment reaching prod), a ceiling narrowed, a new agent, a deleted agent, a
broad grant with prod carved out by `deny`, an agent in a namespace, a policy the configuration does not
manage (read from the server), and a ceiling known only after apply.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tf_steps import apply, ok

pytestmark = pytest.mark.terraform

REPOSITORY = Path(__file__).resolve().parents[2]

BEFORE = """\
resource "vault_namespace" "team_a" {
  path = "team-a"
}

resource "vault_policy" "reports" {
  name   = "reports"
  policy = <<-EOT
    path "secret/data/reports/*" {
      capabilities = ["read"]
    }
  EOT
}

resource "vault_policy" "wide" {
  name   = "wide"
  policy = <<-EOT
    path "secret/data/*" {
      capabilities = ["read", "update"]
    }
  EOT
}

resource "vault_policy" "carved" {
  name   = "carved"
  policy = <<-EOT
    path "secret/*" {
      capabilities = ["create", "update"]
    }
    path "secret/data/prod/*" {
      capabilities = ["deny"]
    }
  EOT
}

resource "vault_policy" "team_writer" {
  namespace = vault_namespace.team_a.path_fq
  name      = "team-writer"
  policy    = <<-EOT
    path "secret/data/staging/*" {
      capabilities = ["update"]
    }
  EOT
}

resource "vault_identity_entity" "agent" {
  for_each = toset(["reporter", "narrowed", "leaving", "careful"])
  name     = each.key
}

resource "vault_identity_entity" "team_agent" {
  namespace = vault_namespace.team_a.path_fq
  name      = "builder"
}

resource "vault_agent_registration" "reporter" {
  display_name     = "reporter"
  entity_id        = vault_identity_entity.agent["reporter"].id
  ceiling_policies = [vault_policy.reports.name]
}

resource "vault_agent_registration" "narrowed" {
  display_name     = "narrowed"
  entity_id        = vault_identity_entity.agent["narrowed"].id
  ceiling_policies = [vault_policy.wide.name]
}

resource "vault_agent_registration" "leaving" {
  display_name     = "leaving"
  entity_id        = vault_identity_entity.agent["leaving"].id
  ceiling_policies = [vault_policy.reports.name]
}

resource "vault_agent_registration" "careful" {
  display_name              = "careful"
  entity_id                 = vault_identity_entity.agent["careful"].id
  ceiling_policies          = [vault_policy.carved.name]
  no_default_ceiling_policy = true
}

resource "vault_agent_registration" "builder" {
  namespace        = vault_namespace.team_a.path_fq
  display_name     = "builder"
  entity_id        = vault_identity_entity.team_agent.id
  ceiling_policies = [vault_policy.team_writer.name]
}
"""

# The change under review.
AFTER = (
    BEFORE.replace(  # a policy's text alone widens every ceiling that names it; `+` reaches prod
        '    path "secret/data/reports/*" {\n      capabilities = ["read"]\n    }\n',
        '    path "secret/data/reports/*" {\n      capabilities = ["read"]\n    }\n'
        '    path "secret/data/+/db" {\n      capabilities = ["read", "create"]\n    }\n',
    )
    .replace('capabilities = ["read", "update"]', 'capabilities = ["read"]')  # narrowed loses update
    .replace('path "secret/data/staging/*"', 'path "secret/data/prod/*"')  # the team's agent now writes prod
    .replace(
        'resource "vault_agent_registration" "leaving" {\n'
        '  display_name     = "leaving"\n'
        '  entity_id        = vault_identity_entity.agent["leaving"].id\n'
        "  ceiling_policies = [vault_policy.reports.name]\n}\n",
        "",
    )
    + """
resource "vault_identity_entity" "newcomer" {
  name = "newcomer"
}

resource "vault_agent_registration" "newcomer" {
  display_name              = "newcomer"
  entity_id                 = vault_identity_entity.newcomer.id
  ceiling_policies          = ["ops-reader"] # not managed here: read from the server
  no_default_ceiling_policy = true
}

resource "terraform_data" "later" {
  input = "x"
}

resource "vault_identity_entity" "pending" {
  name = "pending"
}

resource "vault_agent_registration" "pending" {
  display_name     = "pending"
  entity_id        = vault_identity_entity.pending.id
  ceiling_policies = ["p-${terraform_data.later.id}"]
}
"""
)

RULES = """\
rule "no-agent-writes-prod" {
  agents       = ["*"]
  path         = "secret/data/prod/*"
  capabilities = ["create", "update", "delete"]
}

rule "team-a-stays-out-of-sys" {
  agents       = ["team-a/*"]
  path         = "sys/*"
  capabilities = ["read", "update"]
}
"""


def review(terraform, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vaultguard.service.cli", "access-review", *args],
        cwd=terraform.workdir, env={**terraform.env, **(env or {})}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def plan_the_change(terraform, service, namespace) -> dict[str, str]:
    """Apply BEFORE, plan AFTER into plan.json; the settings that let the review read the server."""
    client = service.client(namespace)
    policy = 'path "ops/*" { capabilities = ["read"] }'
    assert client.post("sys/policies/acl/ops-reader", json={"policy": policy}).status_code in (200, 204)
    terraform.configure_provider(address=service.url, token=service.root_token, namespace=namespace)
    terraform.write("main.tf", BEFORE)
    ok(terraform("init"))
    apply(terraform)
    terraform.write("main.tf", AFTER)
    ok(terraform("plan", "-out=change.tfplan"))
    shown = ok(terraform("show", "-json", "change.tfplan"))
    terraform.write("plan.json", shown.stdout)
    terraform.write("rules.hcl", RULES)
    return {"VAULT_ADDR": service.url, "VAULT_TOKEN": service.root_token, "VAULT_NAMESPACE": namespace}


def test_the_review_reports_gains_losses_and_broken_rules_from_a_real_plan(terraform, service, namespace):
    server = plan_the_change(terraform, service, namespace)

    result = review(terraform, "plan.json", "--rules", "rules.hcl", "--format", "json", env=server)

    assert result.returncode == 1, result.stderr  # rules are broken
    report = json.loads(result.stdout)
    agents = {(a["namespace"], a["display_name"]): a for a in report["agents"]}

    reporter = agents[("", "reporter")]
    assert reporter["action"] == "no-op"  # its registration is unchanged; the policy text changed
    assert {"path": "secret/data/+/db", "capabilities": ["create", "read"]} in [
        {k: g[k] for k in ("path", "capabilities")} for g in reporter["gained"]
    ]
    assert reporter["gained"][0]["granted_by"][0]["policy"] == "reports"
    assert reporter["assumed"] == []  # default and default-ceiling were read from the server

    narrowed = agents[("", "narrowed")]
    assert [(r["path"], r["capabilities"]) for r in narrowed["lost"]] == [("secret/data/*", ["update"])]
    assert narrowed["gained"] == []

    leaving = agents[("", "leaving")]
    assert leaving["action"] == "delete" and leaving["gained"] == []
    assert ("secret/data/reports/*", ["read"]) in [(r["path"], r["capabilities"]) for r in leaving["lost"]]

    newcomer = agents[("", "newcomer")]
    assert newcomer["action"] == "create"
    assert [(r["path"], r["capabilities"]) for r in newcomer["gained"]] == [("ops/*", ["read"])]

    assert "known only after apply" in agents[("", "pending")]["unknown"]

    violations = {(v["rule"], v["agent"], v["path"], v["capabilities"][0]) for v in report["violations"]}
    assert ("no-agent-writes-prod", "reporter", "secret/data/prod/db", "create") in violations
    [builder] = [v for v in report["violations"] if v["agent"] == "builder" and v["rule"] == "no-agent-writes-prod"]
    assert (builder["namespace"], builder["capabilities"], builder["pattern"]) == (
        "team-a",
        ["update"],
        "secret/data/prod/*",
    )
    assert builder["path"].startswith("secret/data/prod/")
    # a namespace-qualified rule reaches only the agents of that namespace (the default policy lets any
    # token update sys/capabilities-self, so the team's agent breaks it and nobody else is checked)
    assert {v["agent"] for v in report["violations"] if v["rule"] == "team-a-stays-out-of-sys"} == {"builder"}
    # the carve-out holds: `careful` may write secret/* but not prod
    assert not any(v["agent"] == "careful" for v in report["violations"])
    assert all(v["agent"] != "narrowed" for v in report["violations"])

    # --- the same plan as markdown for a pull request, and --fail-on-gain without rules
    markdown = review(terraform, "plan.json", "--format", "markdown", env=server)
    gain = review(terraform, "plan.json", "--fail-on-gain", env=server)

    assert markdown.returncode == 0, markdown.stderr  # no rules given
    assert "## Agent access review" in markdown.stdout
    assert "### `reporter` (no-op)" in markdown.stdout
    assert "| gained | `secret/data/+/db` | create, read | reports:4 |" in markdown.stdout
    assert gain.returncode == 1
    assert "+ secret/data/+/db: create, read  (reports:4)" in gain.stdout

    # --- the example guard-rails of examples/ci load and apply to the same plan
    example = REPOSITORY / "examples" / "ci" / "access-rules.hcl"
    guarded = review(terraform, "plan.json", "--rules", str(example), "--format", "json", env=server)
    assert guarded.returncode == 1, guarded.stderr
    broken = {(v["rule"], v["agent"]) for v in json.loads(guarded.stdout)["violations"]}
    assert broken == {("no-agent-writes-prod", "reporter"), ("no-agent-writes-prod", "builder")}

    # --- without a server, unmanaged policies are unknown and the built-in ones assumed
    offline = json.loads(review(terraform, "plan.json", "--format", "json").stdout)
    agents = {a["display_name"]: a for a in offline["agents"]}
    assert agents["newcomer"]["unknown"] == "policy 'ops-reader' is unknown"
    assert agents["reporter"]["assumed"] == ["default", "default-ceiling"]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"plan.json": "not json"}, "plan.json: not JSON"),
        ({"plan.json": '{"a": 1}'}, "plan.json: not a Terraform plan in JSON"),
        ({"rules.hcl": 'rule "r" {\n  agents = "*"\n  path = "x"\n  capabilities = ["read"]\n}\n'},
         'rules.hcl: rule "r": agents must be a non-empty list'),
        ({"rules.hcl": 'rule "r" {\n  agents = ["*"]\n  path = "x"\n  capabilities = ["reed"]\n}\n'},
         'rules.hcl: rule "r": capabilities must be a non-empty list of'),
        ({"rules.hcl": 'rule "r" {\n  agents = ["*"]\n  path = "a/*/b"\n  capabilities = ["read"]\n}\n'},
         'rules.hcl: rule "r": path \'a/*/b\' is not a valid ACL path pattern'),
        ({"rules.hcl": "rule {"}, "rules.hcl: not valid HCL"),
    ],
)  # fmt: skip
def test_bad_input_is_one_error_line_and_exit_2(terraform, files, message):
    terraform.write("plan.json", json.dumps({"format_version": "1.2", "resource_changes": []}))
    for name, text in files.items():
        terraform.write(name, text)

    result = (
        review(terraform, "plan.json", "--rules", "rules.hcl")
        if "rules.hcl" in files
        else review(terraform, "plan.json")
    )

    assert result.returncode == 2, result.stdout + result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ") and message in line, line
