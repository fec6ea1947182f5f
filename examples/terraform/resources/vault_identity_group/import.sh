# A group is imported by its ID (a UUID).
terraform import vault_identity_group.payments 5f3b9a52-0c8d-4e2b-9a51-7d1e6c2f4b80
