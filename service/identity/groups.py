"""Identity group rules: groups, their members (entities and nested groups) and group aliases.

A group's members are in it, and so are the members of its member groups, at any depth: nesting a group
that already contains this one (directly or through others) would be a cycle, and is refused. External
groups get their members from the token instead (a group alias names a `groups_claim` value on an OAuth
profile's mount accessor, DECISIONS.md#d62), so entities cannot be added to them by hand.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..clock import rfc3339_now
from .model import GROUP_TYPES, Group, GroupAlias
from .rules import IdentityError, profile_of_accessor, valid_name, valid_policies


def _type(value: str) -> str:
    if value not in GROUP_TYPES:
        raise IdentityError(f'type: must be "internal" or "external", not "{value}"', field="type")
    return value


def _unique(ids: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def create_group(tx, namespace_id: str, fields: Mapping[str, Any]) -> Group:  # noqa: ANN001
    group_id = str(uuid.uuid4())
    name = valid_name(fields.get("name") or f"group_{group_id}")
    if tx.group_by_name(namespace_id, name) is not None:
        raise IdentityError(f'name: a group named "{name}" already exists', field="name")
    now = rfc3339_now()
    group = Group(
        id=group_id,
        namespace_id=namespace_id,
        name=name,
        type=_type(fields.get("type") or "internal"),
        policies=valid_policies(fields.get("policies", []), "a group"),
        metadata=dict(fields.get("metadata", {})),
        creation_time=now,
        last_update_time=now,
    )
    tx.insert_group(group)
    _set_members(tx, group, fields)
    return group


def update_group(tx, group: Group, fields: Mapping[str, Any]) -> Group:  # noqa: ANN001
    """As Vault: only the fields sent change; a member list sent replaces the stored one."""
    if fields.get("type") and fields["type"] != group.type:
        _type(fields["type"])
        raise IdentityError(
            f'type: a group\'s type cannot be changed (group "{group.name}" is {group.type})', field="type"
        )
    if "name" in fields and fields["name"] != group.name:
        name = valid_name(fields["name"])
        if tx.group_by_name(group.namespace_id, name) is not None:
            raise IdentityError(f'name: a group named "{name}" already exists', field="name")
        group.name = name
    if "policies" in fields:
        group.policies = valid_policies(fields["policies"], "a group")
    if "metadata" in fields:
        group.metadata = dict(fields["metadata"])
    group.last_update_time = rfc3339_now()
    group.modify_index += 1
    tx.update_group(group)
    _set_members(tx, group, fields)
    return group


def _set_members(tx, group: Group, fields: Mapping[str, Any]) -> None:  # noqa: ANN001
    if "member_entity_ids" not in fields and "member_group_ids" not in fields:
        return
    entity_ids = _unique(fields.get("member_entity_ids", group.member_entity_ids))
    group_ids = _unique(fields.get("member_group_ids", group.member_group_ids))
    if entity_ids and group.type == "external":
        raise IdentityError(
            "member_entity_ids: an external group's members come from its group alias and cannot be set",
            field="member_entity_ids",
        )
    missing = set(entity_ids) - tx.existing_entity_ids(group.namespace_id, entity_ids)
    if missing:
        raise IdentityError(
            f'member_entity_ids: no identity entity with id "{min(missing)}" in this namespace',
            field="member_entity_ids",
        )
    if "member_group_ids" in fields:
        _check_nesting(tx, group, group_ids)
    group.member_entity_ids, group.member_group_ids = entity_ids, group_ids
    tx.set_group_members(group, entity_ids, group_ids)


def _check_nesting(tx, group: Group, member_ids: list[str]) -> None:  # noqa: ANN001
    if group.id in member_ids:
        raise IdentityError(
            f'member_group_ids: group "{group.name}" cannot be a member of itself', field="member_group_ids"
        )
    known = {g.id: g for g in tx.groups_by_ids(group.namespace_id, member_ids)}
    missing = [m for m in member_ids if m not in known]
    if missing:
        raise IdentityError(
            f'member_group_ids: no identity group with id "{missing[0]}" in this namespace', field="member_group_ids"
        )
    if not member_ids:
        return
    tx.lock_group_graph(group.namespace_id)  # the ancestors read below stay true until this transaction ends
    ancestors = containing_groups(tx, group.namespace_id, [group.id])
    for member_id in member_ids:
        if member_id in ancestors:
            raise IdentityError(
                f'member_group_ids: group "{known[member_id].name}" ({member_id}) already contains group '
                f'"{group.name}", directly or through nested groups; a membership cycle is not allowed',
                field="member_group_ids",
            )


def containing_groups(tx, namespace_id: str, group_ids: Sequence[str]) -> dict[str, str]:  # noqa: ANN001
    """Every group containing one of `group_ids` at any depth (not those themselves), each mapped to the
    member through which it was first reached: breadth first, so along a shortest nesting path."""
    reached: dict[str, str] = {}
    seen = set(group_ids)
    frontier = sorted(seen)
    while frontier:
        found = []
        for member, parent in tx.group_parents(namespace_id, frontier):
            if parent not in seen:
                seen.add(parent)
                reached[parent] = member
                found.append(parent)
        frontier = sorted(found)
    return reached


def entity_group_ids(tx, namespace_id: str, entity_id: str) -> tuple[list[str], list[str]]:  # noqa: ANN001
    """(direct, inherited): the groups the entity is a member of, and the other groups containing those."""
    direct = tx.direct_group_ids_of_entity(namespace_id, entity_id)
    return direct, sorted(containing_groups(tx, namespace_id, direct))


# -- the groups of one request's subject ------------------------------------------------------------


@dataclass(frozen=True)
class Membership:
    """The groups a subject is in for one request, and how: "member" (a stored membership), `groups claim
    "<value>"` (an external group whose alias names a value of the token's groups claim), or `through "<name>"`
    (it contains that group, at any depth). Groups are read without their member lists."""

    groups: tuple[Group, ...] = ()  # by name
    via: Mapping[str, str] = field(default_factory=dict)  # group id -> how

    def policies(self) -> list[str]:
        return list(dict.fromkeys(p for g in self.groups for p in g.policies))

    def granting(self, policy: str) -> list[str]:
        """The groups that bring `policy` to the baseline, each with how the subject is in it."""
        return [f'group "{g.name}" ({self.via[g.id]})' for g in self.groups if policy in g.policies]


NO_GROUPS = Membership()


def membership(
    tx, namespace_id: str, entity_id: str, accessor: str = "", claim_values: Sequence[str] = ()  # noqa: ANN001
) -> Membership:
    """The subject's groups: its stored memberships, the external groups its groups claim values name
    through aliases on `accessor` (the token's profile), and every group containing any of those."""
    via = dict.fromkeys(tx.direct_group_ids_of_entity(namespace_id, entity_id), "member")
    if claim_values:
        for value, group_id in tx.group_aliases_named(namespace_id, accessor, claim_values):
            via.setdefault(group_id, f'groups claim "{value}"')
    if not via:
        return NO_GROUPS
    nested = containing_groups(tx, namespace_id, list(via))
    found = tx.groups_by_ids(namespace_id, [*via, *nested])
    names = {g.id: g.name for g in found}
    for parent, member in nested.items():
        via[parent] = f'through "{names.get(member, member)}"'
    return Membership(tuple(sorted(found, key=lambda g: g.name)), {g.id: via[g.id] for g in found})


# -- group aliases ----------------------------------------------------------------------------------


def _alias_group(tx, namespace_id: str, group_id: str, alias_id: str = "") -> Group:  # noqa: ANN001
    if not group_id:
        raise IdentityError("canonical_id: is required", field="canonical_id")
    group = tx.group_by_id(namespace_id, group_id)
    if group is None:
        raise IdentityError(
            f'canonical_id: no identity group with id "{group_id}" in this namespace', field="canonical_id"
        )
    if group.type != "external":
        raise IdentityError(
            f'canonical_id: group "{group.name}" is internal; only external groups have aliases', field="canonical_id"
        )
    if group.alias is not None and group.alias.id != alias_id:
        raise IdentityError(
            f'canonical_id: group "{group.name}" already has an alias ("{group.alias.id}")', field="canonical_id"
        )
    return group


def _alias_name_free(tx, namespace_id: str, accessor: str, name: str) -> None:  # noqa: ANN001
    if tx.group_alias_by_mount_name(namespace_id, accessor, name) is not None:
        raise IdentityError(f'name: a group alias named "{name}" already exists for this mount accessor', field="name")


def create_group_alias(tx, namespace_id: str, fields: Mapping[str, Any]) -> GroupAlias:  # noqa: ANN001
    name = valid_name(fields.get("name", ""))
    accessor = fields.get("mount_accessor", "")
    if not accessor:
        raise IdentityError("mount_accessor: is required", field="mount_accessor")
    profile_of_accessor(tx, namespace_id, accessor)
    group = _alias_group(tx, namespace_id, fields.get("canonical_id", ""))
    _alias_name_free(tx, namespace_id, accessor, name)
    now = rfc3339_now()
    alias = GroupAlias(str(uuid.uuid4()), namespace_id, group.id, name, accessor, now, now)
    tx.insert_group_alias(alias)
    return alias


def update_group_alias(tx, alias: GroupAlias, fields: Mapping[str, Any]) -> GroupAlias:  # noqa: ANN001
    name = valid_name(fields["name"]) if "name" in fields else alias.name
    accessor = fields.get("mount_accessor") or alias.mount_accessor
    if accessor != alias.mount_accessor:
        profile_of_accessor(tx, alias.namespace_id, accessor)
    if (accessor, name) != (alias.mount_accessor, alias.name):
        _alias_name_free(tx, alias.namespace_id, accessor, name)
    if fields.get("canonical_id") and fields["canonical_id"] != alias.canonical_id:
        alias.canonical_id = _alias_group(tx, alias.namespace_id, fields["canonical_id"], alias.id).id
    alias.name, alias.mount_accessor = name, accessor
    alias.last_update_time = rfc3339_now()
    tx.update_group_alias(alias)
    return alias
