# A profile can be imported by its name or by its config_id (a UUID).
terraform import vault_oauth_resource_server_config_profile.auth0 auth0
terraform import vault_oauth_resource_server_config_profile.auth0 b2f5c891-3d4e-4f6a-9b1c-7e8d9f0a1b2c

# From another namespace than the provider's: the profile's `namespace` is set from this variable.
TERRAFORM_VAULT_NAMESPACE_IMPORT=team-a terraform import vault_oauth_resource_server_config_profile.auth0 auth0
