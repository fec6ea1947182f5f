# Vault Enterprise needs the OAuth resource server activated before profiles can be written; configurations
# written for it declare the flag and make profiles depend on it. The service has the feature active from
# the start, so this records the activation and the dependency costs nothing.
resource "vault_activation_flags" "oauth" {
  feature = "oauth-resource-server"
}

resource "vault_oauth_resource_server_config_profile" "auth0" {
  depends_on   = [vault_activation_flags.oauth]
  profile_name = "auth0"
  issuer_id    = "https://example-tenant.us.auth0.com/"
  jwks_uri     = "https://example-tenant.us.auth0.com/.well-known/jwks.json"
}
