# The identity entity the agent acts as, and the policy that caps what it may ever do.
resource "vault_identity_entity" "deploy_agent" {
  name = "deploy-agent"
}

resource "vault_policy" "deploy_ceiling" {
  name   = "deploy-ceiling"
  policy = <<-EOT
    path "secret/data/payments/*" {
      capabilities = ["read"]
    }
  EOT
}

resource "vault_agent_registration" "deploy_agent" {
  display_name     = "deploy-agent"
  entity_id        = vault_identity_entity.deploy_agent.id
  description      = "Deploys the payments service from CI"
  owner            = "platform-team"
  ceiling_policies = [vault_policy.deploy_ceiling.name]

  # The server also applies `default` and `default-ceiling` unless this is true.
  no_default_ceiling_policy = false

  # Tokens for this agent must carry `authorization_details` (RFC 9396).
  optional_authorization_details = false
}
