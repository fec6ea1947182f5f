# Read a group by name (or by `group_id`, `alias_id`, or `alias_name` with `alias_mount_accessor`).
data "vault_identity_group" "engineering" {
  group_name = "engineering"
}

output "engineering_policies" {
  value = data.vault_identity_group.engineering.policies
}
