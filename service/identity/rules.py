"""Identity rules (DECISIONS.md#d46, #d11, #d19): entities and entity aliases, including OAuth aliases.

An OAuth alias binds (issuer, external_id) to an entity; its mount accessor is synthesized from the
profile trusting that issuer: `oauth-resource-server_<namespace_id>_<config_id>`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from vaultguard.rules.names import canonical_policy_names

from ..authn.profiles import Profile, normalize_issuer
from ..clock import rfc3339_now
from .model import Alias, Entity, oauth_accessor

MAX_NAME = 512
_ACCESSOR = re.compile(r"^oauth-resource-server_(.+)_([^_]+)$")


class IdentityError(ValueError):
    """A refused request; `field` names the request field it is about, when there is one."""

    def __init__(self, message: str, status: int = 400, *, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.field = field


def valid_name(value: str, field: str = "name") -> str:
    if not value.strip():
        raise IdentityError(f"{field}: must not be empty", field=field)
    if len(value) > MAX_NAME:
        raise IdentityError(f"{field}: longer than {MAX_NAME} characters", field=field)
    if any(ord(ch) < 32 for ch in value):
        raise IdentityError(f"{field}: must not contain control characters", field=field)
    return value


def valid_policies(names: list[str], holder: str = "an entity") -> list[str]:
    policies = canonical_policy_names(names)
    if "root" in policies:
        raise IdentityError(f'policies: "root" cannot be assigned to {holder}', field="policies")
    return policies


# -- entities ---------------------------------------------------------------------------------------


def create_entity(tx, namespace_id: str, fields: Mapping[str, Any]) -> Entity:  # noqa: ANN001
    entity_id = str(uuid.uuid4())
    name = valid_name(fields.get("name") or f"entity-{entity_id}")
    if tx.entity_by_name(namespace_id, name) is not None:
        raise IdentityError(f'name: an entity named "{name}" already exists', field="name")
    now = rfc3339_now()
    entity = Entity(
        id=entity_id,
        namespace_id=namespace_id,
        name=name,
        policies=valid_policies(fields.get("policies", [])),
        metadata=dict(fields.get("metadata", {})),
        disabled=bool(fields.get("disabled", False)),
        creation_time=now,
        last_update_time=now,
    )
    tx.insert_entity(entity)
    return entity


def update_entity(tx, entity: Entity, fields: Mapping[str, Any]) -> Entity:  # noqa: ANN001
    """Vault merges entity updates: only the fields sent change."""
    if "name" in fields and fields["name"] != entity.name:
        name = valid_name(fields["name"])
        if tx.entity_by_name(entity.namespace_id, name) is not None:
            raise IdentityError(f'name: an entity named "{name}" already exists', field="name")
        entity.name = name
    if "policies" in fields:
        entity.policies = valid_policies(fields["policies"])
    if "metadata" in fields:
        entity.metadata = dict(fields["metadata"])
    if "disabled" in fields:
        entity.disabled = bool(fields["disabled"])
    entity.last_update_time = rfc3339_now()
    tx.update_entity(entity)
    return entity


def delete_entity(tx, entity: Entity) -> None:  # noqa: ANN001
    """DECISIONS.md#d11: refused while an agent registration references the entity; aliases go with it."""
    reg = tx.registration_by_entity(entity.namespace_id, entity.id)
    if reg is not None:
        raise IdentityError(
            f'entity "{entity.id}" is referenced by agent registration "{reg.id}" ("{reg.display_name}"); '
            "delete the registration first"
        )
    tx.delete_entity(entity.id)


# -- aliases ----------------------------------------------------------------------------------------


def _resolve_mount(tx, namespace_id: str, fields: Mapping[str, Any]) -> tuple[str, str, str]:  # noqa: ANN001
    """(mount_accessor, issuer, external_id) for a new alias."""
    issuer = fields.get("issuer", "")
    if issuer:
        issuer = normalize_issuer(issuer)
        external_id = fields.get("external_id") or fields.get("name", "")
        if not external_id:
            raise IdentityError("external_id: is required when issuer is set", field="external_id")
        profiles = [p for p in tx.profiles_by_issuer(namespace_id, issuer)]
        if not profiles:
            raise IdentityError(
                f'issuer: no OAuth resource server profile trusts issuer "{issuer}" in this namespace; '
                "create the profile first",
                field="issuer",
            )
        profile = sorted(profiles, key=lambda p: not p.local)[0]  # local beats global (2.2)
        accessor = oauth_accessor(namespace_id, profile.config_id)
        given = fields.get("mount_accessor", "")
        if given and given != accessor:
            raise IdentityError(
                f'mount_accessor: must be "{accessor}" (or omitted) for issuer "{issuer}"',
                field="mount_accessor",
            )
        return accessor, issuer, external_id
    if fields.get("external_id"):
        raise IdentityError("external_id: requires issuer", field="external_id")
    accessor = fields.get("mount_accessor", "")
    if not accessor:
        raise IdentityError("mount_accessor: is required unless issuer is set", field="mount_accessor")
    profile = profile_of_accessor(tx, namespace_id, accessor)
    return accessor, profile.issuer_id, fields.get("name", "")


def profile_of_accessor(tx, namespace_id: str, accessor: str) -> Profile:  # noqa: ANN001
    """The OAuth profile whose synthesized mount accessor is `accessor` in this namespace, or a 400."""
    match = _ACCESSOR.match(accessor)
    profile = None
    if match and match.group(1) == namespace_id:
        profile = tx.profile_by_config_id(namespace_id, match.group(2))
    if profile is None:
        raise IdentityError(
            f'mount_accessor: "{accessor}" is not a mount accessor in this namespace', field="mount_accessor"
        )
    return profile


def create_alias(tx, namespace_id: str, fields: Mapping[str, Any]) -> Alias:  # noqa: ANN001
    name = valid_name(fields.get("name", ""))
    canonical_id = fields.get("canonical_id", "")
    if not canonical_id:
        raise IdentityError("canonical_id: is required", field="canonical_id")
    if tx.entity_by_id(namespace_id, canonical_id) is None:
        raise IdentityError(
            f'canonical_id: no identity entity with id "{canonical_id}" in this namespace',
            field="canonical_id",
        )
    accessor, issuer, external_id = _resolve_mount(tx, namespace_id, {**fields, "name": name})
    if tx.alias_by_issuer(namespace_id, issuer, external_id) is not None:
        raise IdentityError("alias already exists for issuer and external_id")
    if tx.alias_by_mount_name(namespace_id, accessor, name) is not None:
        raise IdentityError(f'name: an alias named "{name}" already exists for this mount accessor', field="name")
    now = rfc3339_now()
    alias = Alias(
        id=str(uuid.uuid4()),
        namespace_id=namespace_id,
        canonical_id=canonical_id,
        name=name,
        mount_accessor=accessor,
        issuer=issuer,
        external_id=external_id,
        custom_metadata=dict(fields.get("custom_metadata", {})),
        creation_time=now,
        last_update_time=now,
    )
    tx.insert_alias(alias)
    return alias


def update_alias(tx, alias: Alias, fields: Mapping[str, Any]) -> Alias:  # noqa: ANN001
    """`issuer` and `external_id` are immutable: if sent they must equal the stored values."""
    if "issuer" in fields and normalize_issuer(fields["issuer"]) != alias.issuer:
        raise IdentityError("issuer: cannot be changed after the alias is created", field="issuer")
    if "external_id" in fields and fields["external_id"] != alias.external_id:
        raise IdentityError("external_id: cannot be changed after the alias is created", field="external_id")
    if "mount_accessor" in fields and fields["mount_accessor"] != alias.mount_accessor:
        raise IdentityError("mount_accessor: cannot be changed after the alias is created", field="mount_accessor")
    if "canonical_id" in fields and fields["canonical_id"] != alias.canonical_id:
        if tx.entity_by_id(alias.namespace_id, fields["canonical_id"]) is None:
            raise IdentityError(
                f'canonical_id: no identity entity with id "{fields["canonical_id"]}" in this namespace',
                field="canonical_id",
            )
        alias.canonical_id = fields["canonical_id"]
    if "name" in fields and fields["name"] != alias.name:
        name = valid_name(fields["name"])
        if tx.alias_by_mount_name(alias.namespace_id, alias.mount_accessor, name) is not None:
            raise IdentityError(f'name: an alias named "{name}" already exists for this mount accessor', field="name")
        alias.name = name
    if "custom_metadata" in fields:
        alias.custom_metadata = dict(fields["custom_metadata"])
    alias.last_update_time = rfc3339_now()
    tx.update_alias(alias)
    return alias
