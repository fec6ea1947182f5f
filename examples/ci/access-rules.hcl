# Guard-rails for agent ceilings, checked by `vaultguard access-review --rules` on every pull request
# (see docs/terraform.md, "Access review"). A rule is broken when, after the plan, an agent it names may do
# any of the capabilities on any path the pattern covers: overlapping globs count, a `deny` carve-out holds.
# Agents are display_name globs, or "namespace/display_name" globs.

rule "no-agent-writes-prod" {
  agents       = ["*"]
  path         = "secret/data/prod/*"
  capabilities = ["create", "update", "patch", "delete"]
}

rule "no-agent-manages-policies-or-namespaces" {
  agents       = ["*"]
  path         = "sys/*"
  capabilities = ["create", "delete", "sudo"]
}

rule "reporting-agents-only-read" {
  agents       = ["report-*", "*/report-*"]
  path         = "secret/*"
  capabilities = ["create", "update", "patch", "delete"]
}
