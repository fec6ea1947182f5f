resource "vault_identity_group" "payments" {
  name              = "payments"
  external_policies = true
}

# Exclusive (the default): this resource owns the group's whole policy list.
resource "vault_identity_group_policies" "payments" {
  group_id = vault_identity_group.payments.id
  policies = ["payments-reader", "payments-writer"]
}

resource "vault_identity_group" "shared" {
  name              = "shared"
  external_policies = true
}

# Not exclusive: each resource adds (and on destroy removes) only the policies it names.
resource "vault_identity_group_policies" "shared_base" {
  group_id  = vault_identity_group.shared.id
  policies  = ["base"]
  exclusive = false
}

resource "vault_identity_group_policies" "shared_audit" {
  group_id  = vault_identity_group.shared.id
  policies  = ["audit-reader"]
  exclusive = false
}
