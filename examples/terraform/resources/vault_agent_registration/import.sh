# An agent registration can be imported by its display name or by its ID (a UUID).
terraform import vault_agent_registration.deploy_agent deploy-agent
terraform import vault_agent_registration.deploy_agent 3f0c7d4e-9a41-4c3a-8c1e-0b5a2f9d7e61

# From another namespace than the provider's: the registration's `namespace` is set from this variable.
TERRAFORM_VAULT_NAMESPACE_IMPORT=team-a terraform import vault_agent_registration.deploy_agent deploy-agent
