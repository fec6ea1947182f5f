resource "vault_namespace" "team_a" {
  path = "team-a"
  custom_metadata = {
    owner = "platform-team"
  }
}

# A child of team-a. Objects inside it use `path_fq` (the path relative to the provider's namespace)
# as their `namespace`; nothing is inherited from the parent.
resource "vault_namespace" "team_a_ci" {
  namespace = vault_namespace.team_a.path_fq
  path      = "ci"
}

resource "vault_policy" "ci_reader" {
  namespace = vault_namespace.team_a_ci.path_fq
  name      = "ci-reader"
  policy    = <<-EOT
    path "secret/data/ci/*" {
      capabilities = ["read"]
    }
  EOT
}
