"""Policies every namespace has from the start (DECISIONS.md#d45, DECISIONS.md#d12)."""

DEFAULT_POLICY = """\
# Allow tokens to look up and manage themselves.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
path "auth/token/renew-self" {
  capabilities = ["update"]
}
path "auth/token/revoke-self" {
  capabilities = ["update"]
}
path "sys/capabilities-self" {
  capabilities = ["update"]
}

# Allow an entity to read its own record.
path "identity/entity/id/{{identity.entity.id}}" {
  capabilities = ["read"]
}
path "identity/entity/name/{{identity.entity.name}}" {
  capabilities = ["read"]
}

path "sys/internal/ui/resultant-acl" {
  capabilities = ["read"]
}
path "sys/renew" {
  capabilities = ["update"]
}
path "sys/leases/renew" {
  capabilities = ["update"]
}
path "sys/leases/lookup" {
  capabilities = ["update"]
}

# A private scratch space per token.
path "cubbyhole/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}

path "sys/wrapping/wrap" {
  capabilities = ["update"]
}
path "sys/wrapping/lookup" {
  capabilities = ["update"]
}
path "sys/wrapping/unwrap" {
  capabilities = ["update"]
}
path "sys/tools/hash" {
  capabilities = ["update"]
}
path "sys/tools/hash/*" {
  capabilities = ["update"]
}
path "sys/control-group/request" {
  capabilities = ["update"]
}
path "identity/oidc/provider/+/authorize" {
  capabilities = ["read", "update"]
}
"""

# DECISIONS.md#d12: the route is `entity-id` and the policy paths live under `sys/policy/`, so the self-read grants
# actually match (a live server's text reportedly used `entity_id` and `policy/...`, which match nothing).
DEFAULT_CEILING_POLICY = """\
# The most any agent may do by default: read its own registration and these two policies.
path "agent-registry/registration/entity-id/{{identity.entity.id}}" {
  capabilities = ["read"]
}
path "sys/policy/default" {
  capabilities = ["read"]
}
path "sys/policy/default-ceiling" {
  capabilities = ["read"]
}
"""

BUILTIN_POLICIES = {"default": DEFAULT_POLICY, "default-ceiling": DEFAULT_CEILING_POLICY}
UNDELETABLE = frozenset({"root", "default", "default-ceiling"})
