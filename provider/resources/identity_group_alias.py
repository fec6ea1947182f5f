"""Resource `vault_identity_group_alias`: names an external group on a mount accessor (hashicorp/vault
compatible; DECISIONS.md#d46). Here the accessor is an OAuth profile's
(`oauth-resource-server_<namespace_id>_<config_id>`) and the name is a value of the profile's `groups_claim`
(DECISIONS.md#d62): a token carrying it puts its subject in the group."""

from __future__ import annotations

from tf.iface import State
from tf.types import String

from vaultguard.provider.client import path_segment
from vaultguard.provider.framework import NotBlank
from vaultguard.provider.resource_spec import Field, ResourceSpec, SpecResource, namespace_field

FIELDS = ResourceSpec(
    [
        Field("name", String(), "Name of the alias, unique per mount accessor: the groups claim value.",
              required=True, rules=[NotBlank()]),
        Field("mount_accessor", String(), "Mount accessor the alias belongs to: an OAuth profile's "
              "`mount_accessor` (`oauth-resource-server_<namespace_id>_<config_id>`).", required=True,
              rules=[NotBlank()]),
        Field("canonical_id", String(), "ID of the external group the alias names (at most one alias per "
              "group).", required=True, rules=[NotBlank()]),
        namespace_field("Namespace of the alias, relative to the provider's namespace. Changing it replaces "
                        "the alias."),
        Field("id", String(), "The alias's ID, assigned by the server.", computed=True),
    ],
    description="Manages an identity group alias: the name an external group has on a mount accessor (a value "
    "of an OAuth profile's groups claim).",
)  # fmt: skip


class IdentityGroupAliasResource(SpecResource):
    """`resource "vault_identity_group_alias"`."""

    resource_name = "identity_group_alias"
    spec = FIELDS
    create_path = "identity/group-alias"
    noun = "group alias"

    def object_path(self, state: State) -> str:
        return f"identity/group-alias/id/{path_segment(state['id'])}"


__all__ = ["IdentityGroupAliasResource"]
