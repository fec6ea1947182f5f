# Many agents from one map: a local module declares one agent (entity, OAuth alias, registration) and is
# instantiated once per entry of `var.agents` with for_each. Adding an entry to the map registers a new
# agent; removing one deletes its registration, alias, entity and ceiling policy. With the server in
# VAULT_ADDR, VAULT_TOKEN (and VAULT_NAMESPACE):
#
#   terraform init && terraform apply      # the agents in terraform.tfvars

terraform {
  required_providers {
    vault = {
      source = "vaultguard/vault"
    }
  }
}

provider "vault" {}

variable "issuer" {
  description = "The issuer (`iss`) of the agents' tokens."
  type        = string
}

variable "agents" {
  description = "The agents to register, by name."
  type = map(object({
    owner       = string
    description = optional(string)
    subject     = string       # the `sub` of the agent's tokens
    read_paths  = list(string) # what the agent may ever read: its ceiling
  }))
}

resource "vault_oauth_resource_server_config_profile" "idp" {
  profile_name = "agents-idp"
  issuer_id    = var.issuer
  jwks_uri     = "${trimsuffix(var.issuer, "/")}/.well-known/jwks.json"
}

# One ceiling policy per agent, named after it.
resource "vault_policy" "ceiling" {
  for_each = var.agents

  name = "${each.key}-ceiling"
  policy = join("\n", [for path in each.value.read_paths : <<-EOT
    path "${path}" {
      capabilities = ["read"]
    }
  EOT
  ])
}

module "agent" {
  source   = "./modules/agent"
  for_each = var.agents

  name             = each.key
  owner            = each.value.owner
  description      = each.value.description
  subject          = each.value.subject
  ceiling_policies = [vault_policy.ceiling[each.key].name]
  issuer           = vault_oauth_resource_server_config_profile.idp.issuer_id
}

output "registration_ids" {
  description = "Each agent's registration ID, by name."
  value       = { for name, agent in module.agent : name => agent.registration_id }
}
