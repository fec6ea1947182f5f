# One agent: the identity entity it acts as, the OAuth alias that maps its tokens' `sub` to that entity,
# and its registration. Every value may be unknown until apply (`each.key`, `count.index`, another
# resource's attributes): the provider plans them as "known after apply".

terraform {
  required_providers {
    vault = {
      source = "vaultguard/vault"
    }
  }
}

variable "name" {
  description = "The agent's name: its entity's name and its registration's display name."
  type        = string
}

variable "owner" {
  description = "Person or team responsible for the agent."
  type        = string
}

variable "description" {
  description = "What the agent does."
  type        = string
  default     = null
}

variable "ceiling_policies" {
  description = "Policies that bound what the agent may ever do."
  type        = list(string)
}

variable "issuer" {
  description = "The issuer of the agent's tokens (a profile must trust it)."
  type        = string
}

variable "subject" {
  description = "The `sub` of the agent's tokens."
  type        = string
}

resource "vault_identity_entity" "this" {
  name = var.name
  metadata = {
    owner = var.owner
  }
}

resource "vault_identity_entity_alias" "this" {
  name         = "${var.name}@oauth"
  canonical_id = vault_identity_entity.this.id
  issuer       = var.issuer
  external_id  = var.subject
}

resource "vault_agent_registration" "this" {
  display_name     = var.name
  entity_id        = vault_identity_entity.this.id
  owner            = var.owner
  description      = var.description
  ceiling_policies = var.ceiling_policies
}

output "entity_id" {
  description = "ID of the agent's identity entity."
  value       = vault_identity_entity.this.id
}

output "alias_id" {
  description = "ID of the agent's OAuth entity alias."
  value       = vault_identity_entity_alias.this.id
}

output "registration_id" {
  description = "ID of the agent's registration."
  value       = vault_agent_registration.this.id
}
