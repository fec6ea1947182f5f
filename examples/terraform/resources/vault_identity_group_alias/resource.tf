# The profile trusting the identity provider; its `groups_claim` names the token claim listing the subject's
# groups, and its `mount_accessor` is what group aliases name.
resource "vault_oauth_resource_server_config_profile" "corp" {
  profile_name = "corp-idp"
  issuer_id    = "https://login.example.com/tenant"
  jwks_uri     = "https://login.example.com/tenant/.well-known/jwks.json"
  groups_claim = "groups"
}

resource "vault_identity_group" "idp_developers" {
  name     = "idp-developers"
  type     = "external"
  policies = ["developer"]
}

# A token from corp-idp whose `groups` claim holds "developers" puts its subject in idp-developers.
resource "vault_identity_group_alias" "developers" {
  name           = "developers"
  mount_accessor = vault_oauth_resource_server_config_profile.corp.mount_accessor
  canonical_id   = vault_identity_group.idp_developers.id
}
