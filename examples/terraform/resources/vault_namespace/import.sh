# A namespace is imported by its path relative to the provider's namespace: its name, or
# `parent/name` for a nested one (the part before the last "/" becomes `namespace`).
terraform import vault_namespace.team_a team-a
terraform import vault_namespace.team_a_ci team-a/ci

# Relative to another namespace than the provider's: `namespace` is prefixed with this variable.
TERRAFORM_VAULT_NAMESPACE_IMPORT=team-a terraform import vault_namespace.team_a_ci ci
