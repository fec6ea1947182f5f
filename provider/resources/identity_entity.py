"""Resource `vault_identity_entity`: an identity entity (hashicorp/vault compatible; SPEC B §6.8).

Entities are updated by merge on the server (only the fields sent change), so every update sends every
field this resource manages, with "empty" spelled out to clear. With `external_policies = true` the
entity's policies belong to something else (another resource, an operator) and are neither sent nor read.
Deleting an entity deletes its aliases (D11) and is refused while an agent registration references it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from tf.iface import (
    Config,
    CreateContext,
    DeleteContext,
    ImportContext,
    PlanContext,
    ReadContext,
    State,
    UpdateContext,
)
from tf.schema import Attribute, Schema
from tf.types import Bool, Map, String, Unknown
from tf.utils import AttributePath, Diagnostics

from vaultguard.provider.client import ApiError, path_segment
from vaultguard.provider.framework import (
    Each,
    EquivalentSet,
    NamespacePath,
    NotBlank,
    VaultResource,
    api_error,
    check,
    keep_null,
    same_or_prior,
)
from vaultguard.provider.missing_policies import warn_missing_policies
from vaultguard.service.authz.names import normalize_policy_name

# ---- schema -------------------------------------------------------------------------------------------

# Flags with a default: planned when the configuration leaves them out, so state always holds a bool and
# an imported entity plans empty whether its configuration spells `false` or leaves the flag out.
DEFAULTS: dict[str, bool] = {"disabled": False, "external_policies": False}

SCHEMA = Schema(
    version=0,
    description="Manages an identity entity: the named principal that aliases, policies and agent "
    "registrations attach to.",
    attributes=[
        # required: none (the server names an entity `entity-<uuid>` when no name is given)
        Attribute(
            "name",
            String(),
            optional=True,
            computed=True,
            description="Name of the entity, unique in its namespace. The server generates "
            "`entity-<id>` when it is not set.",
        ),
        Attribute(
            "policies",
            EquivalentSet(String(), lambda names: {normalize_policy_name(n) for n in names}),
            optional=True,
            description="Policies attached directly to the entity (the server stores them lowercased). "
            "`root` cannot be attached. Must not be set when `external_policies` is true.",
        ),
        Attribute(
            "metadata",
            Map(String()),
            optional=True,
            description="Metadata of the entity, string to string.",
        ),
        Attribute(
            "disabled",
            Bool(),
            optional=True,
            computed=True,
            default=False,
            description="Whether the entity is disabled. Default: `false`.",
        ),
        Attribute(
            "external_policies",
            Bool(),
            optional=True,
            computed=True,
            default=False,
            description="When true, the entity's policies are managed outside this resource and are "
            "neither sent nor read. Default: `false`.",
        ),
        Attribute(
            "namespace",
            String(),
            optional=True,
            requires_replace=True,
            description="Namespace of the entity, relative to the provider's namespace. Changing it "
            "replaces the entity.",
        ),
        Attribute("id", String(), computed=True, description="The entity's ID, assigned by the server."),
    ],
)


# ---- validation ---------------------------------------------------------------------------------------


def normalize_policy(name: str) -> str:
    """How the server stores a policy name: trimmed and lowercased."""
    return name.strip().lower()


def normalize_policies(names: Iterable[str]) -> list[str]:
    """The set of policy names the server keeps from `names`."""
    return sorted({normalize_policy(n) for n in names if n.strip()})


class NotRootPolicy:
    """`root` can never be attached to an entity (the server refuses it)."""

    description = 'must not be "root"'

    def errors(self, value: Any) -> Iterator[tuple[AttributePath, str]]:
        if isinstance(value, str) and normalize_policy(value) == "root":
            yield [], 'must not be "root": the root policy cannot be attached to an entity'


RULES = {
    "name": [NotBlank()],
    "policies": [Each(NotBlank()), Each(NotRootPolicy())],
    "namespace": [NamespacePath()],
}


def check_external_policies(diags: Diagnostics, config: Config) -> None:
    """`policies` and `external_policies = true` contradict each other."""
    if config.get("external_policies") is True and config.get("policies") not in (None, Unknown):
        diags.add_error(
            "Conflicting configuration arguments",
            "policies must not be set when external_policies is true: the entity's policies are then "
            "managed outside this resource.",
            path=["policies"],
        )


# ---- API mapping --------------------------------------------------------------------------------------


def api_path(entity_id: str) -> str:
    return f"identity/entity/id/{path_segment(entity_id)}"


def to_api(state: State) -> dict[str, Any]:
    """The request body of a create or update: every managed field, with empty values spelled out so an
    update (a merge on the server) clears what the configuration no longer sets."""
    body: dict[str, Any] = {
        "metadata": dict(state.get("metadata") or {}),
        "disabled": bool(state.get("disabled")),
    }
    if state.get("name") not in (None, Unknown):
        body["name"] = state["name"]
    if not state.get("external_policies"):
        body["policies"] = sorted(state.get("policies") or [])
    return body


def from_api(data: dict[str, Any]) -> State:
    """State attributes from a read's `data`."""
    return {
        "id": data["id"],
        "name": data.get("name") or "",
        "policies": list(data.get("policies") or []),
        "metadata": {str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
        "disabled": bool(data.get("disabled", False)),
    }


# ---- plan adjustments ---------------------------------------------------------------------------------
# At plan time the flags left out of the configuration take their defaults, and on create `id` (and `name`
# when left out) are unknown (`plan_with_config`); on update they keep their prior values. After the server
# answers, `reconcile` keeps the user's spelling of policy names and null for what the configuration left
# out.


def reconcile(prior: State, fresh: State) -> State:
    """State from the server's view (`fresh`), keeping what only the configuration knows (`prior`)."""
    external = prior.get("external_policies")
    if external:
        policies = prior.get("policies")
    else:
        policies = keep_null(
            prior.get("policies"),
            same_or_prior(prior.get("policies"), fresh["policies"], normalize_policies),
        )
    return {
        **fresh,
        "policies": policies,
        "metadata": keep_null(prior.get("metadata"), fresh["metadata"]),
        "external_policies": bool(external),
        "namespace": prior.get("namespace"),
    }


class IdentityEntityResource(VaultResource):
    """`resource "vault_identity_entity"`."""

    @classmethod
    def get_name(cls) -> str:
        return "identity_entity"

    @classmethod
    def get_schema(cls) -> Schema:
        return SCHEMA

    def validate(self, diags: Diagnostics, type_name: str, config: Config) -> None:
        super().validate(diags, type_name, config)
        check(diags, config, RULES)
        check_external_policies(diags, config)

    # ---- plan ---------------------------------------------------------------------------------------

    def plan_with_config(self, ctx: PlanContext, prior: State | None, proposed: State, config: Config) -> State | None:
        """The defaults of the flags the configuration leaves out (so removing one sets it back); on create,
        the id and a name left out are unknown until the server assigns them."""
        planned = dict(proposed)
        for name, default in DEFAULTS.items():
            if config.get(name) is None:
                planned[name] = default
        if prior is None:
            planned["id"] = Unknown
            if config.get("name") is None:
                planned["name"] = Unknown
        return planned

    # ---- create -------------------------------------------------------------------------------------

    def create(self, ctx: CreateContext, planned: State) -> State | None:
        try:
            body = self.client.write("identity/entity", to_api(planned), namespace=planned.get("namespace"))
        except ApiError as exc:
            return api_error(ctx.diagnostics, "create", ctx.type_name, exc, schema=SCHEMA)
        data = (body or {}).get("data") or {}
        if not data.get("id"):
            ctx.diagnostics.add_error(
                f"Unable to create {ctx.type_name}", "The server answered without the new entity's id."
            )
            return None
        name = planned.get("name")
        return {**planned, "id": data["id"], "name": data.get("name") if name in (None, Unknown) else name}

    # ---- read ---------------------------------------------------------------------------------------

    def read(self, ctx: ReadContext, current: State) -> State | None:
        try:
            body = self.client.read(api_path(current["id"]), namespace=current.get("namespace"))
        except ApiError as exc:
            return api_error(ctx.diagnostics, "read", ctx.type_name, exc)
        if body is None or not body.get("data"):
            return None  # deleted out of band: Terraform plans to create it again
        state = reconcile(current, from_api(body["data"]))
        warn_missing_policies(ctx.diagnostics, self.client, state, "policies")
        return state

    # ---- update -------------------------------------------------------------------------------------

    def update(self, ctx: UpdateContext, current: State, planned: State) -> State | None:
        try:
            self.client.write(api_path(current["id"]), to_api(planned), namespace=planned.get("namespace"))
        except ApiError as exc:
            return api_error(ctx.diagnostics, "update", ctx.type_name, exc, schema=SCHEMA)
        return planned

    # ---- delete -------------------------------------------------------------------------------------

    def delete(self, ctx: DeleteContext, current: State) -> None:
        # The server deletes the entity's aliases with it (D11); an entity already gone counts as deleted.
        try:
            self.client.delete(api_path(current["id"]), namespace=current.get("namespace"))
        except ApiError as exc:
            api_error(ctx.diagnostics, "delete", ctx.type_name, exc)
        return None

    # ---- import -------------------------------------------------------------------------------------

    def import_(self, ctx: ImportContext, id: str) -> State | None:  # noqa: A002 - tf's signature
        """`terraform import vault_identity_entity.x <entity id>`; Terraform then reads the rest."""
        if not id.strip():
            ctx.diagnostics.add_error("Invalid import ID", "Import a vault_identity_entity by its id.")
            return None
        return self.import_state(id=id.strip(), namespace=self.import_namespace())

    # upgrade: VaultResource.upgrade (schema version 0, no upgraders yet).


__all__ = ["IdentityEntityResource", "from_api", "to_api"]
