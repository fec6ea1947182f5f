resource "vault_identity_group" "oncall" {
  name                       = "oncall"
  policies                   = ["oncall"]
  external_member_entity_ids = true
}

resource "vault_identity_entity" "people" {
  for_each = toset(["alice", "bob"])
  name     = each.key
}

# Exclusive (the default): exactly these entities are members; one added out of band shows as drift.
resource "vault_identity_group_member_entity_ids" "oncall" {
  group_id          = vault_identity_group.oncall.id
  member_entity_ids = [for person in vault_identity_entity.people : person.id]
}
