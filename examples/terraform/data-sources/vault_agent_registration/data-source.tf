# Look a registration up by its display name (or by `id`; set exactly one of them).
data "vault_agent_registration" "deploy_agent" {
  display_name = "deploy-agent"
}

# The ceiling in force, as the server stores it: `default` and `default-ceiling` included unless the
# registration opts out with `no_default_ceiling_policy`.
output "deploy_agent_ceiling" {
  value = data.vault_agent_registration.deploy_agent.ceiling_policies
}
