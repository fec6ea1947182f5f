# Trust an identity provider that publishes its keys as a JWKS (Auth0's issuer ends in "/": the provider
# compares issuers as the server does, lowercased and without the trailing "/").
resource "vault_oauth_resource_server_config_profile" "auth0" {
  profile_name = "auth0"
  issuer_id    = "https://example-tenant.us.auth0.com/"
  jwks_uri     = "https://example-tenant.us.auth0.com/.well-known/jwks.json"
  audiences    = ["https://vault.example.com"]

  supported_algorithms = ["RS256", "PS256"]
  clock_skew_leeway    = 30
}

# Trust an issuer whose signing keys are pinned in the configuration (no JWKS fetch). This issuer puts
# a token's unique id in `uti` (as Entra ID does) rather than `jti`.
resource "vault_oauth_resource_server_config_profile" "internal" {
  profile_name    = "internal-issuer"
  issuer_id       = "https://issuer.internal.example.com"
  use_jwks        = false
  user_claim      = "sub"
  unique_id_claim = "uti"
  actor_claim     = "act.sub"

  # Two keys during a rotation; tokens name theirs in the `kid` header.
  public_keys {
    key_id = "2026-01"
    pem    = <<-EOT
      -----BEGIN PUBLIC KEY-----
      MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAErk/S075FYrORpnOg7lVz+xG73U4y
      rlzqJFeEapmvsLgqo4Sz5lQldMfVXz73Maol5ajVXxSp3jZxPdG9cLmf3g==
      -----END PUBLIC KEY-----
    EOT
  }

  public_keys {
    key_id = "2026-07"
    pem    = <<-EOT
      -----BEGIN PUBLIC KEY-----
      MCowBQYDK2VwAyEAQvWrK74E9oiJPb6pA1pWdb6weWPiCQMu5MSFbUJdj+Y=
      -----END PUBLIC KEY-----
    EOT
  }
}
