# An entity is imported by its ID (a UUID).
terraform import vault_identity_entity.alice 8d5c8b9e-4c1f-4e0a-9f43-2a7b6c1d0e5f

# From another namespace than the provider's: the entity's `namespace` is set from this variable.
TERRAFORM_VAULT_NAMESPACE_IMPORT=team-a terraform import vault_identity_entity.alice 8d5c8b9e-4c1f-4e0a-9f43-2a7b6c1d0e5f
