# The entity a human (or an agent) is known by. Policies attached here are the entity's baseline.
resource "vault_identity_entity" "alice" {
  name     = "alice"
  policies = ["payments-reader"]
  metadata = {
    team = "payments"
  }
}

# An entity whose policies are managed elsewhere (another tool, or an operator): this resource neither
# sends nor reads them.
resource "vault_identity_entity" "deploy_agent" {
  name              = "deploy-agent"
  external_policies = true
}
