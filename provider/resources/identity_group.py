"""Resource `vault_identity_group`: an identity group (hashicorp/vault compatible; DECISIONS.md#d46).

Group updates are merges on the server (only the fields sent change), so every update sends every field this
resource manages, with "empty" spelled out to clear. Each of `external_policies`, `external_member_entity_ids`
and `external_member_group_ids` hands that field to something else (`vault_identity_group_policies`, the
member resources, an operator): it is then neither sent nor read. An external group's members come from
group aliases, so its member lists are never sent nor read either (as in hashicorp/vault).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tf.iface import Config, State
from tf.types import Bool, Map, Set, String, Unknown
from tf.utils import Diagnostics

from vaultguard.provider.client import path_segment
from vaultguard.provider.framework import Each, NotBlank, OneOf
from vaultguard.provider.missing_policies import warn_missing_policies
from vaultguard.provider.resource_spec import Field, ResourceSpec, SpecResource, namespace_field
from vaultguard.provider.resources.identity_entity import NotRootPolicy, check_external_policies, normalize_policies

MEMBER_FIELDS = ("member_entity_ids", "member_group_ids")


def _external(field: str, managed_by: str) -> Field:
    return Field(f"external_{field}", Bool(), f"When true, the group's `{field}` are managed outside this "
                 f"resource (for example by `{managed_by}`) and are neither sent nor read.", default=False,
                 api=None)  # fmt: skip


FIELDS = ResourceSpec(
    [
        Field("name", String(), "Name of the group, unique in its namespace. The server generates `group_<id>` "
              "when it is not set.", optional=True, computed=True, rules=[NotBlank()], omit_unset=True),
        Field("type", String(), "`internal` (members listed here) or `external` (members from its group alias). "
              "Changing it replaces the group.", default="internal", replace=True,
              rules=[OneOf(("internal", "external"))]),
        Field("policies", Set(String()), "Policies granted to the group's members (stored lowercased; `root` "
              "cannot be attached). Must not be set when `external_policies` is true.", optional=True,
              rules=[Each(NotBlank()), Each(NotRootPolicy())], same=normalize_policies, empty_keeps_null=True),
        Field("metadata", Map(String()), "Metadata of the group, string to string.", optional=True,
              empty_keeps_null=True),
        Field("member_entity_ids", Set(String()), "Entities that are members of the group. Not for external "
              "groups, nor with `external_member_entity_ids`.", optional=True, rules=[Each(NotBlank())],
              empty_keeps_null=True),
        Field("member_group_ids", Set(String()), "Groups that are members of this group (their members are in "
              "it too). Not for external groups, nor with `external_member_group_ids`; a cycle is refused.",
              optional=True, rules=[Each(NotBlank())], empty_keeps_null=True),
        _external("policies", "vault_identity_group_policies"),
        _external("member_entity_ids", "vault_identity_group_member_entity_ids"),
        _external("member_group_ids", "vault_identity_group_member_group_ids"),
        namespace_field("Namespace of the group, relative to the provider's namespace. Changing it replaces "
                        "the group."),
        Field("id", String(), "The group's ID, assigned by the server.", computed=True),
    ],
    description="Manages an identity group: policies for every entity in it, directly or through nested "
    "groups, and, for an external group, for every subject whose token's groups claim names its alias.",
)  # fmt: skip
SCHEMA = FIELDS.schema
from_api = FIELDS.from_api


def manages(state: State, field: str) -> bool:
    """Whether this resource sends and reads `field` (policies or a member list)."""
    if state.get(f"external_{field}"):
        return False
    return field == "policies" or state.get("type") != "external"


def to_api(state: State) -> dict[str, Any]:
    """The body of a create or update: every managed field, empty values spelled out."""
    body = FIELDS.to_api(state)
    for field in ("policies", *MEMBER_FIELDS):
        if not manages(state, field):
            del body[field]
    return body


def reconcile(prior: State, fresh: State) -> State:
    """State from the server's view, keeping what only the configuration knows; the fields this resource does
    not manage keep their configured value."""
    state = FIELDS.reconcile(prior, fresh)
    for field in ("policies", *MEMBER_FIELDS):
        if not manages(state, field):
            state[field] = prior.get(field)
    return state


def check_external_members(diags: Diagnostics, config: Config) -> None:
    """A member list contradicts its `external_*` flag and an external group."""
    for field in MEMBER_FIELDS:
        if config.get(field) in (None, Unknown):
            continue
        if config.get(f"external_{field}") is True:
            diags.add_error("Conflicting configuration arguments", f"{field} must not be set when "
                            f"external_{field} is true: the members are then managed outside this resource.",
                            path=[field])  # fmt: skip
        elif config.get("type") == "external":
            diags.add_error("Invalid attribute combination", f"{field} must not be set on an external group: "
                            "its members come from its group alias.", path=[field])  # fmt: skip


class IdentityGroupResource(SpecResource):
    """`resource "vault_identity_group"`. Deleting a group removes it from the groups it is nested in and
    deletes its alias; a group already gone counts as deleted."""

    resource_name = "identity_group"
    spec = FIELDS
    create_path = "identity/group"
    noun = "group"

    def object_path(self, state: State) -> str:
        return f"identity/group/id/{path_segment(state['id'])}"

    def check_config(self, diags: Diagnostics, config: Config) -> None:
        check_external_policies(diags, config)
        check_external_members(diags, config)

    def to_api(self, state: State) -> dict[str, Any]:
        return to_api(state)

    def state_from_api(self, prior: State, data: Mapping[str, Any]) -> State:
        return reconcile(prior, from_api(data))

    def after_read(self, diags: Diagnostics, state: State) -> None:
        warn_missing_policies(diags, self.client, state, "policies")


__all__ = ["IdentityGroupResource", "from_api", "to_api"]
