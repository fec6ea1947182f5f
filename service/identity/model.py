"""Namespaces, identity entities and entity aliases (DECISIONS.md#d46, DECISIONS.md#d18)."""

from __future__ import annotations

from dataclasses import dataclass, field

ROOT_NAMESPACE_ID = "root"
ALIAS_ACCESSOR_PREFIX = "oauth-resource-server_"
OAUTH_ALIAS_MOUNT_PATH = "auth/oauth-resource-server/"
OAUTH_ALIAS_MOUNT_TYPE = "oauth-resource-server"


@dataclass
class Namespace:
    """A namespace; `path` is "" for root and "team-a/" style (trailing slash) otherwise."""

    id: str
    path: str
    custom_metadata: dict[str, str] = field(default_factory=dict)

    def to_api(self) -> dict:
        return {"id": self.id, "path": self.path, "custom_metadata": dict(self.custom_metadata)}


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
        oauth = self.is_oauth
        return {
            "id": self.id,
            "canonical_id": self.canonical_id,
            "name": self.name,
            "mount_accessor": self.mount_accessor,
            "mount_path": OAUTH_ALIAS_MOUNT_PATH if oauth else "",
            "mount_type": OAUTH_ALIAS_MOUNT_TYPE if oauth else "",
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

    def to_api(self) -> dict:
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
            "direct_group_ids": [],
            "group_ids": [],
            "inherited_group_ids": [],
            "merged_entity_ids": None,
            "mfa_secrets": {},
        }
