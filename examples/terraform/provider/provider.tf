terraform {
  required_providers {
    vault = {
      source = "vaultguard/vault"
    }
  }
}

# The address and token are usually left to VAULT_ADDR and VAULT_TOKEN (or ~/.vault-token), so no
# credential is written in the configuration.
provider "vault" {
  address   = "https://vault.example.com:8200"
  namespace = "team-a"

  # Sent with every request, e.g. to pass a gateway in front of the server.
  headers {
    name  = "X-Gateway-Key"
    value = var.gateway_key
  }
}

variable "gateway_key" {
  type      = string
  sensitive = true
}

# A second configuration for another namespace; resources select it with `provider = vault.team_b`.
provider "vault" {
  alias     = "team_b"
  address   = "https://vault.example.com:8200"
  namespace = "team-b"
}
