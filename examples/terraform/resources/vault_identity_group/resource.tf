resource "vault_identity_entity" "alice" {
  name = "alice"
}

# An internal group: its members' baseline gains its policies. A group nested in another (its id in the
# other's `member_group_ids`) passes that group's policies on to its own members too.
resource "vault_identity_group" "payments" {
  name              = "payments"
  policies          = ["payments-reader"]
  member_entity_ids = [vault_identity_entity.alice.id]

  metadata = {
    cost_center = "cc-42"
  }
}

resource "vault_identity_group" "engineering" {
  name             = "engineering"
  policies         = ["engineering-common"]
  member_group_ids = [vault_identity_group.payments.id]
}

# An external group: its members are the subjects whose token's groups claim names its alias (see
# vault_identity_group_alias), so it takes no member lists.
resource "vault_identity_group" "idp_developers" {
  name     = "idp-developers"
  type     = "external"
  policies = ["developer"]
}
