# A policy is imported by its name.
terraform import vault_policy.payments_reader payments-reader

# From another namespace than the provider's: the policy's `namespace` is set from this variable.
TERRAFORM_VAULT_NAMESPACE_IMPORT=team-a terraform import vault_policy.payments_reader payments-reader
