variable "issuer" {
  description = "The issuer (`iss`) whose tokens are trusted, e.g. the URL `vaultguard dev-issuer` prints."
  type        = string
}

variable "jwks_url" {
  description = "Where the issuer publishes its signing keys (a JWKS)."
  type        = string
}

variable "audience" {
  description = "The `aud` the issuer puts in tokens meant for vaultguard."
  type        = string
  default     = "vaultguard"
}

variable "with_reporting_agent" {
  description = "Whether report-bot is registered (false: the next apply deletes its registration)."
  type        = bool
  default     = true
}
