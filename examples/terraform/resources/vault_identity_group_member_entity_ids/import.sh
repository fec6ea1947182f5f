# Imported by the group's ID, as an exclusive list.
terraform import vault_identity_group_member_entity_ids.oncall 5f3b9a52-0c8d-4e2b-9a51-7d1e6c2f4b80
