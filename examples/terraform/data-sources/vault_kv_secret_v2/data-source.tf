# The latest version of `secret/payments/db` (set `version` to read an older one).
data "vault_kv_secret_v2" "payments_db" {
  mount = "secret"
  name  = "payments/db"
}

# `data` is sensitive; values that are not strings arrive JSON-encoded (`data_json` holds the object).
output "payments_db_user" {
  value     = data.vault_kv_secret_v2.payments_db.data["username"]
  sensitive = true
}
