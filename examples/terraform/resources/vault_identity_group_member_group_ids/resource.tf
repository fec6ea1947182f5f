resource "vault_identity_group" "engineering" {
  name                      = "engineering"
  policies                  = ["engineering-common"]
  external_member_group_ids = true
}

resource "vault_identity_group" "teams" {
  for_each = toset(["payments", "risk"])
  name     = each.key
}

# Not exclusive: adds these groups to engineering and, on destroy, removes only them.
resource "vault_identity_group_member_group_ids" "teams" {
  group_id         = vault_identity_group.engineering.id
  member_group_ids = [for team in vault_identity_group.teams : team.id]
  exclusive        = false
}
