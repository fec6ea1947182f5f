"""Resource `vault_identity_entity`: an identity entity (hashicorp/vault compatible; DECISIONS.md#d46).

Entities are updated by merge on the server (only the fields sent change), so every update sends every
field this resource manages, with "empty" spelled out to clear. With `external_policies = true` the
entity's policies belong to something else (another resource, an operator) and are neither sent nor read.
Deleting an entity deletes its aliases (DECISIONS.md#d11) and is refused while an agent registration references it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from tf.iface import Config, State
from tf.types import Bool, Map, Set, String, Unknown
from tf.utils import AttributePath, Diagnostics

from vaultguard.provider.client import path_segment
from vaultguard.provider.framework import Each, NotBlank
from vaultguard.provider.missing_policies import warn_missing_policies
from vaultguard.provider.resource_spec import Field, ResourceSpec, SpecResource, namespace_field
from vaultguard.rules.names import canonical_policy_names, normalize_policy_name


def normalize_policies(names: Iterable[str]) -> list[str]:
    """The set of policy names the server keeps from `names`."""
    return sorted(canonical_policy_names(list(names)))


class NotRootPolicy:
    """`root` can never be attached to an entity (the server refuses it)."""

    description = 'must not be "root"'

    def errors(self, value: Any) -> Iterator[tuple[AttributePath, str]]:
        if isinstance(value, str) and normalize_policy_name(value) == "root":
            yield [], 'must not be "root": the root policy cannot be attached to an entity'


FIELDS = ResourceSpec(
    [
        # required: none (the server names an entity `entity-<uuid>` when no name is given)
        Field(
            "name",
            String(),
            "Name of the entity, unique in its namespace. The server generates `entity-<id>` when it is not set.",
            optional=True,
            computed=True,
            rules=[NotBlank()],
            omit_unset=True,
        ),
        Field(
            "policies",
            Set(String()),
            "Policies attached directly to the entity (the server stores them lowercased). `root` cannot be "
            "attached. Must not be set when `external_policies` is true.",
            optional=True,
            rules=[Each(NotBlank()), Each(NotRootPolicy())],
            same=normalize_policies,
            empty_keeps_null=True,
        ),
        Field(
            "metadata",
            Map(String()),
            "Metadata of the entity, string to string.",
            optional=True,
            empty_keeps_null=True,
        ),
        # Flags with a default, so state always holds a bool and an imported entity plans empty whether its
        # configuration spells `false` or leaves the flag out.
        Field("disabled", Bool(), "Whether the entity is disabled.", default=False),
        Field(
            "external_policies",
            Bool(),
            "When true, the entity's policies are managed outside this resource and are neither sent nor read.",
            default=False,
            api=None,
        ),
        namespace_field(
            "Namespace of the entity, relative to the provider's namespace. Changing it replaces the entity."
        ),
        Field("id", String(), "The entity's ID, assigned by the server.", computed=True),
    ],
    description="Manages an identity entity: the named principal that aliases, policies and agent "
    "registrations attach to.",
)
SCHEMA = FIELDS.schema
from_api = FIELDS.from_api


def check_external_policies(diags: Diagnostics, config: Config) -> None:
    """`policies` and `external_policies = true` contradict each other."""
    if config.get("external_policies") is True and config.get("policies") not in (None, Unknown):
        diags.add_error(
            "Conflicting configuration arguments",
            "policies must not be set when external_policies is true: the entity's policies are then "
            "managed outside this resource.",
            path=["policies"],
        )


def to_api(state: State) -> dict[str, Any]:
    """The request body of a create or update: every managed field, with empty values spelled out so an
    update (a merge on the server) clears what the configuration no longer sets."""
    body = FIELDS.to_api(state)
    if state.get("external_policies"):
        del body["policies"]
    return body


def reconcile(prior: State, fresh: State) -> State:
    """State from the server's view (`fresh`), keeping what only the configuration knows (`prior`); with
    `external_policies` the server's policies are not read."""
    state = FIELDS.reconcile(prior, fresh)
    if state["external_policies"]:
        state["policies"] = prior.get("policies")
    return state


class IdentityEntityResource(SpecResource):
    """`resource "vault_identity_entity"`. Deleting an entity deletes its aliases (DECISIONS.md#d11); an entity already
    gone counts as deleted."""

    resource_name = "identity_entity"
    spec = FIELDS
    create_path = "identity/entity"
    noun = "entity"

    read_after_create = False  # the server stores what is written; its answer names the new entity

    def object_path(self, state: State) -> str:
        return f"identity/entity/id/{path_segment(state['id'])}"

    def created_identity(self, planned: State, answer: Mapping[str, Any] | None) -> State | None:
        """The new entity's id, and its name when the configuration left it to the server."""
        identity = super().created_identity(planned, answer)
        name = ((answer or {}).get("data") or {}).get("name")
        if identity is not None and planned.get("name") is Unknown and isinstance(name, str) and name:
            identity["name"] = name
        return identity

    def check_config(self, diags: Diagnostics, config: Config) -> None:
        check_external_policies(diags, config)

    def to_api(self, state: State) -> dict[str, Any]:
        return to_api(state)

    def state_from_api(self, prior: State, data: Mapping[str, Any]) -> State:
        return reconcile(prior, from_api(data))

    def after_read(self, diags: Diagnostics, state: State) -> None:
        warn_missing_policies(diags, self.client, state, "policies")


__all__ = ["IdentityEntityResource", "from_api", "to_api"]
