# The quickstart: trust a development issuer, declare a human and two agents, cap what the agents may do,
# and register them. `make demo` (examples/demo.py) applies it and then plays the agents. By hand, with
# `vaultguard server --dev` and `vaultguard dev-issuer` running (127.0.0.1:8200 and 127.0.0.1:8400):
#
#   eval "$(vaultguard provider rc --output ~/.config/vaultguard/vaultguard.tfrc)"
#   export VAULT_ADDR=http://127.0.0.1:8200 VAULT_TOKEN=<the dev server's root token>
#   vaultguard terraform init
#   vaultguard terraform apply -var issuer=http://127.0.0.1:8400 \
#     -var jwks_url=http://127.0.0.1:8400/.well-known/jwks.json

terraform {
  required_providers {
    vault = {
      source = "vaultguard/vault"
    }
  }
}

# The address and token come from VAULT_ADDR and VAULT_TOKEN.
provider "vault" {}

# Trust the issuer's tokens: keys from its JWKS, tokens meant for this audience.
resource "vault_oauth_resource_server_config_profile" "dev_issuer" {
  profile_name = "dev-issuer"
  issuer_id    = var.issuer
  jwks_uri     = var.jwks_url
  audiences    = [var.audience]
}

# The baseline: what the humans and agents below may read at most, as subjects.
resource "vault_policy" "baseline" {
  name   = "finance-reader"
  policy = <<-EOT
    path "secret/data/reports/*" {
      capabilities = ["read"]
    }

    path "secret/data/payroll/*" {
      capabilities = ["read"]
    }
  EOT
}

# The ceiling: what the agents may ever do, whoever they act for. Payroll stays out of reach.
resource "vault_policy" "ceiling" {
  name   = "reports-ceiling"
  policy = <<-EOT
    path "secret/data/reports/*" {
      capabilities = ["read"]
    }
  EOT
}

# A human subject. An agent acting on her behalf gets at most her baseline.
resource "vault_identity_entity" "alice" {
  name     = "alice"
  policies = [vault_policy.baseline.name]
}

resource "vault_identity_entity_alias" "alice" {
  name         = "alice@dev-issuer"
  canonical_id = vault_identity_entity.alice.id
  issuer       = vault_oauth_resource_server_config_profile.dev_issuer.issuer_id
  external_id  = "alice"
}

# An agent acting on its own (direct flow): tokens whose `sub` is "report-bot".
resource "vault_identity_entity" "report_bot" {
  name     = "report-bot"
  policies = [vault_policy.baseline.name]
}

resource "vault_identity_entity_alias" "report_bot" {
  name         = "report-bot@dev-issuer"
  canonical_id = vault_identity_entity.report_bot.id
  issuer       = vault_oauth_resource_server_config_profile.dev_issuer.issuer_id
  external_id  = "report-bot"
}

# Its registration; without it, its tokens are refused. Set with_reporting_agent = false to remove it.
resource "vault_agent_registration" "report_bot" {
  count = var.with_reporting_agent ? 1 : 0

  display_name     = "report-bot"
  entity_id        = vault_identity_entity.report_bot.id
  description      = "Writes the quarterly reports"
  owner            = "finance-team"
  ceiling_policies = [vault_policy.ceiling.name]

  # Every token must say what it is for (RFC 9396 authorization_details).
  optional_authorization_details = false
}

# An agent acting on behalf of a human (delegated flow): tokens whose `sub` is the human and whose
# `act.sub` is "assistant". Its own entity needs no policies: the subject's baseline applies.
resource "vault_identity_entity" "assistant" {
  name = "assistant"
}

resource "vault_identity_entity_alias" "assistant" {
  name         = "assistant@dev-issuer"
  canonical_id = vault_identity_entity.assistant.id
  issuer       = vault_oauth_resource_server_config_profile.dev_issuer.issuer_id
  external_id  = "assistant"
}

resource "vault_agent_registration" "assistant" {
  display_name     = "assistant"
  entity_id        = vault_identity_entity.assistant.id
  description      = "Answers questions for the finance team"
  owner            = "finance-team"
  ceiling_policies = [vault_policy.ceiling.name]
}
