# An entity alias is imported by its ID (a UUID).
terraform import vault_identity_entity_alias.alice_auth0 0b6e2f1a-7c3d-4b8e-9a5f-1d2c3e4f5a6b

# From another namespace than the provider's: the alias's `namespace` is set from this variable.
TERRAFORM_VAULT_NAMESPACE_IMPORT=team-a terraform import vault_identity_entity_alias.alice_auth0 0b6e2f1a-7c3d-4b8e-9a5f-1d2c3e4f5a6b
