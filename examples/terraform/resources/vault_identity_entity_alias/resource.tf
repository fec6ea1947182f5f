resource "vault_identity_entity" "alice" {
  name = "alice"
}

# The profile that trusts the identity provider; the alias's issuer must be one a profile trusts, and the
# server derives the alias's `mount_accessor` from that profile.
resource "vault_oauth_resource_server_config_profile" "auth0" {
  profile_name = "auth0"
  issuer_id    = "https://example-tenant.us.auth0.com/"
  jwks_uri     = "https://example-tenant.us.auth0.com/.well-known/jwks.json"
}

# An OAuth alias: a JWT from this issuer whose `sub` is `external_id` acts as alice. The issuer may be
# spelled as the identity provider prints it (here with a trailing "/"): it is compared lowercased and
# without it, so state keeps this spelling and plans stay empty.
resource "vault_identity_entity_alias" "alice_auth0" {
  name         = "alice@auth0"
  canonical_id = vault_identity_entity.alice.id
  issuer       = vault_oauth_resource_server_config_profile.auth0.issuer_id
  external_id  = "auth0|64f1c2a9e3b7d5a1c0f4e2d8"

  custom_metadata = {
    source = "terraform"
  }
}
