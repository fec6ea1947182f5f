"""Resource `vault_identity_entity_alias`: an alias binding an external identity to an entity.

Compatible with hashicorp/vault's resource of the same name, plus Vault 2.1's OAuth alias fields: with
`issuer` and `external_id` set the alias is what a JWT's `(iss, sub)` resolves to (SPEC B §6.8), and the
server synthesizes `mount_accessor` from the profile that trusts the issuer. `issuer`, `external_id` and
`mount_accessor` cannot change on the server, so changing them replaces the alias.

The server stores the issuer normalized (D19: lowercased, one trailing `/` dropped). State keeps the
configuration's spelling whenever it normalizes to the server's, so a config written as Auth0 prints its
issuer (`https://tenant.auth0.com/`) never shows a diff nor an inconsistent result.
"""

from __future__ import annotations

from typing import Any

from tf.iface import Config, CreateContext, DeleteContext, ImportContext, ReadContext, State, UpdateContext
from tf.schema import Attribute, Schema
from tf.types import Map, String, Unknown
from tf.utils import Diagnostics

from vaultguard.provider.client import ApiError, path_segment
from vaultguard.provider.framework import (
    NamespacePath,
    NotBlank,
    VaultResource,
    api_error,
    check,
    keep_null,
    same_or_prior,
)


def normalize_issuer(issuer: str) -> str:
    """D19, by the service's own function (one rule in one place)."""
    # Imported on use: it pulls in `cryptography`, which the provider's start-up does not need.
    from vaultguard.service.authn.profiles import normalize_issuer as service_rule

    return service_rule(issuer)


class IssuerString(String):
    """A string attribute whose values are equal when they normalize to the same issuer (D19).

    tf compares values with `semantically_equal` to decide which attributes changed (so a respelled
    issuer does not force a replacement) and to keep the prior encoded value when the new one is
    equivalent (so state keeps the user's spelling).
    """

    def semantically_equal(self, a_decoded: Any, b_decoded: Any) -> bool:
        if isinstance(a_decoded, str) and isinstance(b_decoded, str):
            return normalize_issuer(a_decoded) == normalize_issuer(b_decoded)
        return a_decoded == b_decoded


# ---- schema -------------------------------------------------------------------------------------------

SCHEMA = Schema(
    version=0,
    description="Manages an identity entity alias. With `issuer` and `external_id` it is an OAuth alias: a "
    "JWT from that issuer whose subject is `external_id` acts as the alias's entity.",
    attributes=[
        Attribute(
            "name",
            String(),
            required=True,
            description="Name of the alias, unique per mount accessor. For an OAuth alias it is a label "
            "(the JWT is matched on `issuer` and `external_id`).",
        ),
        Attribute(
            "canonical_id",
            String(),
            required=True,
            description="ID of the entity the alias belongs to.",
        ),
        Attribute(
            "issuer",
            IssuerString(),
            optional=True,
            computed=True,
            requires_replace=True,
            description="Issuer (`iss`) of the JWTs this alias matches; an OAuth resource server profile "
            "must trust it. Compared normalized (lowercase, no trailing `/`). When only `mount_accessor` is "
            "set, the server fills it in from that profile. Changing it replaces the alias.",
        ),
        Attribute(
            "external_id",
            String(),
            optional=True,
            computed=True,
            requires_replace=True,
            description="Subject (`sub`) of the JWTs this alias matches; unique together with `issuer`. "
            "Defaults to `name` when `issuer` is set. Changing it replaces the alias.",
        ),
        Attribute(
            "mount_accessor",
            String(),
            optional=True,
            computed=True,
            requires_replace=True,
            description="Accessor of the mount the alias belongs to. For an OAuth alias the server "
            "synthesizes `oauth-resource-server_<namespace_id>_<config_id>` from the profile trusting "
            "`issuer`; set it only to pin that value. Required when `issuer` is not set. Changing it "
            "replaces the alias.",
        ),
        Attribute(
            "custom_metadata",
            Map(String()),
            optional=True,
            description="Custom metadata of the alias, string to string.",
        ),
        Attribute(
            "namespace",
            String(),
            optional=True,
            requires_replace=True,
            description="Namespace of the alias, relative to the provider's namespace. Changing it replaces the alias.",
        ),
        Attribute("id", String(), computed=True, description="The alias's ID, assigned by the server."),
    ],
)


# ---- validation ---------------------------------------------------------------------------------------

RULES = {
    "name": [NotBlank()],
    "canonical_id": [NotBlank()],
    "issuer": [NotBlank()],
    "external_id": [NotBlank()],
    "mount_accessor": [NotBlank()],
    "namespace": [NamespacePath()],
}


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


# ---- API mapping --------------------------------------------------------------------------------------


def api_path(alias_id: str) -> str:
    return f"identity/entity-alias/id/{path_segment(alias_id)}"


def to_api(state: State) -> dict[str, Any]:
    """The request body of a create or update. The immutable fields are sent when known: on update they
    equal the stored values (a change replaces the alias), which the server checks."""
    body: dict[str, Any] = {
        "name": state["name"],
        "canonical_id": state["canonical_id"],
        "custom_metadata": dict(state.get("custom_metadata") or {}),
    }
    for key in ("issuer", "external_id", "mount_accessor"):
        if state.get(key) not in (None, Unknown, ""):
            body[key] = state[key]
    return body


def from_api(data: dict[str, Any]) -> State:
    """State attributes from a read's `data` (the server's empty strings stand for "none")."""
    return {
        "id": data["id"],
        "name": data.get("name") or "",
        "canonical_id": data.get("canonical_id") or "",
        "issuer": data.get("issuer") or None,
        "external_id": data.get("external_id") or None,
        "mount_accessor": data.get("mount_accessor") or None,
        "custom_metadata": {str(k): str(v) for k, v in (data.get("custom_metadata") or {}).items()},
    }


# ---- plan adjustments ---------------------------------------------------------------------------------
# None at plan time: `issuer`'s type makes a respelling that normalizes to the same issuer no change, and
# Terraform keeps the prior values of the computed attributes on update. After the server answers,
# `reconcile` keeps the configuration's issuer spelling and null for metadata left out.


def reconcile(prior: State, fresh: State) -> State:
    """State from the server's view (`fresh`), keeping what only the configuration knows (`prior`)."""
    return {
        **fresh,
        "issuer": same_or_prior(prior.get("issuer"), fresh["issuer"], normalize_issuer),
        "custom_metadata": keep_null(prior.get("custom_metadata"), fresh["custom_metadata"]),
        "namespace": prior.get("namespace"),
    }


class IdentityEntityAliasResource(VaultResource):
    """`resource "vault_identity_entity_alias"`."""

    @classmethod
    def get_name(cls) -> str:
        return "identity_entity_alias"

    @classmethod
    def get_schema(cls) -> Schema:
        return SCHEMA

    def validate(self, diags: Diagnostics, type_name: str, config: Config) -> None:
        super().validate(diags, type_name, config)
        check(diags, config, RULES)
        check_mount(diags, config)

    # ---- create -------------------------------------------------------------------------------------

    def create(self, ctx: CreateContext, planned: State) -> State | None:
        namespace = planned.get("namespace")
        try:
            body = self.client.write("identity/entity-alias", to_api(planned), namespace=namespace)
            alias_id = ((body or {}).get("data") or {}).get("id")
            # The server fills in the computed fields (mount_accessor, issuer, external_id): read them.
            read = self.client.read(api_path(alias_id), namespace=namespace) if alias_id else None
        except ApiError as exc:
            return api_error(ctx.diagnostics, "create", ctx.type_name, exc, schema=SCHEMA)
        if read is None or not read.get("data"):
            ctx.diagnostics.add_error(f"Unable to create {ctx.type_name}", "The server did not return the new alias.")
            return None
        fresh = reconcile(planned, from_api(read["data"]))
        # What was planned (known) must come back exactly; only the unknowns are filled in from the server.
        return {k: fresh.get(k) if v is Unknown else v for k, v in planned.items()}

    # ---- read ---------------------------------------------------------------------------------------

    def read(self, ctx: ReadContext, current: State) -> State | None:
        try:
            body = self.client.read(api_path(current["id"]), namespace=current.get("namespace"))
        except ApiError as exc:
            return api_error(ctx.diagnostics, "read", ctx.type_name, exc)
        if body is None or not body.get("data"):
            # Deleted out of band, or with its entity (D11): Terraform plans to create it again.
            return None
        return reconcile(current, from_api(body["data"]))

    # ---- update -------------------------------------------------------------------------------------

    def update(self, ctx: UpdateContext, current: State, planned: State) -> State | None:
        try:
            self.client.write(api_path(current["id"]), to_api(planned), namespace=planned.get("namespace"))
        except ApiError as exc:
            return api_error(ctx.diagnostics, "update", ctx.type_name, exc, schema=SCHEMA)
        return planned

    # ---- delete -------------------------------------------------------------------------------------

    def delete(self, ctx: DeleteContext, current: State) -> None:
        # An alias already gone (deleted with its entity, D11) counts as deleted: the server answers 204.
        try:
            self.client.delete(api_path(current["id"]), namespace=current.get("namespace"))
        except ApiError as exc:
            api_error(ctx.diagnostics, "delete", ctx.type_name, exc)
        return None

    # ---- import -------------------------------------------------------------------------------------

    def import_(self, ctx: ImportContext, id: str) -> State | None:  # noqa: A002 - tf's signature
        """`terraform import vault_identity_entity_alias.x <alias id>`; Terraform then reads the rest."""
        if not id.strip():
            ctx.diagnostics.add_error("Invalid import ID", "Import a vault_identity_entity_alias by its id.")
            return None
        return self.import_state(id=id.strip(), namespace=self.import_namespace())

    # upgrade: VaultResource.upgrade (schema version 0, no upgraders yet).


__all__ = ["IdentityEntityAliasResource", "IssuerString", "from_api", "to_api"]
