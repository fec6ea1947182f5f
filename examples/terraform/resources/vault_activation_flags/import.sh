# An activation flag is imported by its feature name.
terraform import vault_activation_flags.oauth oauth-resource-server
