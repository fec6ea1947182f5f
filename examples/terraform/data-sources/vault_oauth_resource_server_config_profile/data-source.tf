# A profile managed elsewhere (another configuration, or an operator), read by its name.
data "vault_oauth_resource_server_config_profile" "auth0" {
  profile_name = "auth0"
}

# An OAuth alias for the issuer that profile trusts: JWTs from it whose `sub` is `external_id` act as
# the entity.
resource "vault_identity_entity" "alice" {
  name = "alice"
}

resource "vault_identity_entity_alias" "alice_auth0" {
  name         = "alice@auth0"
  canonical_id = vault_identity_entity.alice.id
  issuer       = data.vault_oauth_resource_server_config_profile.auth0.issuer_id
  external_id  = "auth0|64f1c2a9e3b7d5a1c0f4e2d8"
}
