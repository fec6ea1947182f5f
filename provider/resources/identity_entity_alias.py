"""Resource `vault_identity_entity_alias`: an alias binding an external identity to an entity.

Compatible with hashicorp/vault's resource of the same name, plus Vault 2.1's OAuth alias fields: with
`issuer` and `external_id` set the alias is what a JWT's `(iss, sub)` resolves to (DECISIONS.md#d46), and the
server synthesizes `mount_accessor` from the profile that trusts the issuer. `issuer`, `external_id` and
`mount_accessor` cannot change on the server, so changing them replaces the alias.

The server stores the issuer normalized (DECISIONS.md#d19: lowercased, one trailing `/` dropped). State keeps the
configuration's spelling whenever it normalizes to the server's, so a config written as Auth0 prints its
issuer (`https://tenant.auth0.com/`) never shows a diff nor an inconsistent result.
"""

from __future__ import annotations

from tf.iface import Config, State
from tf.types import Map, String, Unknown
from tf.utils import Diagnostics

from vaultguard.provider.client import path_segment
from vaultguard.provider.framework import NotBlank
from vaultguard.provider.resource_spec import Field, ResourceSpec, SpecResource, namespace_field
from vaultguard.rules.oauth import normalize_issuer

# The server fills in these when they are not set, and none can change there (a change replaces the alias):
# they are sent when known, and the server's "" is null in state.
_SET_BY_SERVER = {"optional": True, "computed": True, "replace": True, "omit_unset": True, "empty_is_null": True}

FIELDS = ResourceSpec(
    [
        Field(
            "name",
            String(),
            "Name of the alias, unique per mount accessor. For an OAuth alias it is a label (the JWT is matched "
            "on `issuer` and `external_id`).",
            required=True,
            rules=[NotBlank()],
        ),
        Field(
            "canonical_id",
            String(),
            "ID of the entity the alias belongs to.",
            required=True,
            rules=[NotBlank()],
        ),
        Field(
            "issuer",
            String(),
            "Issuer (`iss`) of the JWTs this alias matches; an OAuth resource server profile must trust it. "
            "Compared normalized (lowercase, no trailing `/`). When only `mount_accessor` is set, the server "
            "fills it in from that profile. Changing it replaces the alias.",
            rules=[NotBlank()],
            same=normalize_issuer,
            **_SET_BY_SERVER,
        ),
        Field(
            "external_id",
            String(),
            "Subject (`sub`) of the JWTs this alias matches; unique together with `issuer`. Defaults to `name` "
            "when `issuer` is set. Changing it replaces the alias.",
            rules=[NotBlank()],
            **_SET_BY_SERVER,
        ),
        Field(
            "mount_accessor",
            String(),
            "Accessor of the mount the alias belongs to. For an OAuth alias the server synthesizes "
            "`oauth-resource-server_<namespace_id>_<config_id>` from the profile trusting `issuer`; set it only "
            "to pin that value. Required when `issuer` is not set. Changing it replaces the alias.",
            rules=[NotBlank()],
            **_SET_BY_SERVER,
        ),
        Field(
            "custom_metadata",
            Map(String()),
            "Custom metadata of the alias, string to string.",
            optional=True,
            empty_keeps_null=True,
        ),
        namespace_field(
            "Namespace of the alias, relative to the provider's namespace. Changing it replaces the alias."
        ),
        Field("id", String(), "The alias's ID, assigned by the server.", computed=True),
    ],
    description="Manages an identity entity alias. With `issuer` and `external_id` it is an OAuth alias: a "
    "JWT from that issuer whose subject is `external_id` acts as the alias's entity.",
)
SCHEMA = FIELDS.schema
to_api, from_api, reconcile = FIELDS.to_api, FIELDS.from_api, FIELDS.reconcile


def check_mount(diags: Diagnostics, config: Config) -> None:
    """An alias needs `issuer` or `mount_accessor`; `external_id` only means something with `issuer`."""
    issuer, accessor, external_id = (config.get(k) for k in ("issuer", "mount_accessor", "external_id"))
    if issuer is None and accessor is None:
        diags.add_error(
            "Missing required argument",
            "Set issuer (an OAuth alias; the server derives mount_accessor from the profile trusting it) "
            "or mount_accessor.",
            path=["issuer"],
        )
    elif issuer is None and external_id not in (None, Unknown):
        diags.add_error(
            "Invalid value for external_id",
            "external_id requires issuer: it is the JWT subject of an OAuth alias.",
            path=["external_id"],
        )


class IdentityEntityAliasResource(SpecResource):
    """`resource "vault_identity_entity_alias"`. An alias already gone (deleted with its entity,
    DECISIONS.md#d11) counts as deleted: the server answers 204."""

    resource_name = "identity_entity_alias"
    spec = FIELDS
    create_path = "identity/entity-alias"
    noun = "alias"

    def object_path(self, state: State) -> str:
        return f"identity/entity-alias/id/{path_segment(state['id'])}"

    def check_config(self, diags: Diagnostics, config: Config) -> None:
        check_mount(diags, config)


__all__ = ["IdentityEntityAliasResource", "from_api", "to_api"]
