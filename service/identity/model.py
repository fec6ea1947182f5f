"""Namespaces, identity entities, entity aliases, groups and group aliases (DECISIONS.md#d46,
DECISIONS.md#d18; docs/api.md, Identity groups)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

ROOT_NAMESPACE_ID = "root"
ALIAS_ACCESSOR_PREFIX = "oauth-resource-server_"
OAUTH_ALIAS_MOUNT_PATH = "auth/oauth-resource-server/"
OAUTH_ALIAS_MOUNT_TYPE = "oauth-resource-server"


def oauth_accessor(namespace_id: str, config_id: str) -> str:
    """The mount accessor of an OAuth profile: what its entity and group aliases name."""
    return f"{ALIAS_ACCESSOR_PREFIX}{namespace_id}_{config_id}"


@dataclass
class Namespace:
    """A namespace; `path` is "" for root and "team-a/" style (trailing slash) otherwise."""

    id: str
    path: str
    custom_metadata: dict[str, str] = field(default_factory=dict)

    def to_api(self) -> dict:
        return {"id": self.id, "path": self.path, "custom_metadata": dict(self.custom_metadata)}


def mount_fields(accessor: str) -> dict[str, str]:
    """An alias's mount as Vault shows it: the accessor, and the path and type of the OAuth mount an OAuth
    profile's accessor stands for (empty for any other accessor)."""
    oauth = accessor.startswith(ALIAS_ACCESSOR_PREFIX)
    return {
        "mount_accessor": accessor,
        "mount_path": OAUTH_ALIAS_MOUNT_PATH if oauth else "",
        "mount_type": OAUTH_ALIAS_MOUNT_TYPE if oauth else "",
    }


@dataclass
class Alias:
    id: str
    namespace_id: str
    canonical_id: str
    name: str
    mount_accessor: str = ""
    issuer: str = ""
    external_id: str = ""
    custom_metadata: dict[str, str] = field(default_factory=dict)
    creation_time: str = ""
    last_update_time: str = ""

    @property
    def is_oauth(self) -> bool:
        return self.mount_accessor.startswith(ALIAS_ACCESSOR_PREFIX)

    def to_api(self) -> dict:
        return {
            "id": self.id,
            "canonical_id": self.canonical_id,
            "name": self.name,
            **mount_fields(self.mount_accessor),
            "issuer": self.issuer,
            "external_id": self.external_id,
            "custom_metadata": dict(self.custom_metadata),
            "metadata": {},
            "local": False,
            "merged_from_canonical_ids": None,
            "namespace_id": self.namespace_id,
            "creation_time": self.creation_time,
            "last_update_time": self.last_update_time,
        }


@dataclass
class Entity:
    id: str
    namespace_id: str
    name: str
    policies: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    disabled: bool = False
    creation_time: str = ""
    last_update_time: str = ""
    aliases: list[Alias] = field(default_factory=list)

    def to_api(self, direct_group_ids: Sequence[str] = (), inherited_group_ids: Sequence[str] = ()) -> dict:
        """Vault's entity; the group ids are the stored (internal) memberships: groups the entity is a member
        of, and the groups that contain those (directly or through nesting)."""
        return {
            "id": self.id,
            "name": self.name,
            "namespace_id": self.namespace_id,
            "policies": list(self.policies),
            "metadata": dict(self.metadata) or None,
            "disabled": self.disabled,
            "aliases": [a.to_api() for a in self.aliases],
            "creation_time": self.creation_time,
            "last_update_time": self.last_update_time,
            "direct_group_ids": list(direct_group_ids),
            "group_ids": list(direct_group_ids) + list(inherited_group_ids),
            "inherited_group_ids": list(inherited_group_ids),
            "merged_entity_ids": None,
            "mfa_secrets": {},
        }


GROUP_TYPES = ("internal", "external")


@dataclass
class GroupAlias:
    """Names an external group on one mount accessor: a token claim value on an OAuth profile's accessor."""

    id: str
    namespace_id: str
    canonical_id: str
    name: str
    mount_accessor: str
    creation_time: str = ""
    last_update_time: str = ""

    def to_api(self) -> dict:
        return {
            "id": self.id,
            "canonical_id": self.canonical_id,
            "name": self.name,
            **mount_fields(self.mount_accessor),
            "metadata": None,
            "merged_from_canonical_ids": None,
            "namespace_id": self.namespace_id,
            "creation_time": self.creation_time,
            "last_update_time": self.last_update_time,
        }


@dataclass
class Group:
    """An identity group. The member and parent lists are filled by full reads only (`Tx.group_by_id`);
    the agent hot path reads groups without them (a group may have thousands of members)."""

    id: str
    namespace_id: str
    name: str
    type: str = "internal"
    policies: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    creation_time: str = ""
    last_update_time: str = ""
    modify_index: int = 1
    member_entity_ids: list[str] = field(default_factory=list)
    member_group_ids: list[str] = field(default_factory=list)
    parent_group_ids: list[str] = field(default_factory=list)
    alias: GroupAlias | None = None

    def to_api(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "namespace_id": self.namespace_id,
            "type": self.type,
            "policies": list(self.policies),
            "metadata": dict(self.metadata) or None,
            "member_entity_ids": list(self.member_entity_ids),
            "member_group_ids": list(self.member_group_ids),
            "parent_group_ids": list(self.parent_group_ids),
            "alias": self.alias.to_api() if self.alias is not None else {},
            "creation_time": self.creation_time,
            "last_update_time": self.last_update_time,
            "modify_index": self.modify_index,
        }
