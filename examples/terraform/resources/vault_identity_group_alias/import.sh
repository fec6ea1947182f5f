# A group alias is imported by its ID (a UUID).
terraform import vault_identity_group_alias.developers 63104e20-88e4-11eb-8d04-cf7ac9d60157
