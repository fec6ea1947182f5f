# Which gated features the server reports active (always `oauth-resource-server` on this service).
data "vault_activation_flags" "current" {}

output "oauth_active" {
  value = contains(data.vault_activation_flags.current.activated_flags, "oauth-resource-server")
}
