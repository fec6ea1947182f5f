"""Agent registry rules (DECISIONS.md#d25, #d26, #d10): validation, default ceilings, create and full-replace
update.

Works on a storage transaction handed in by the caller and on plain dataclasses; raises `RegistryError`
(a 400 or 404 for the HTTP layer) with a message naming the field and the rule.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Protocol

from vaultguard.rules.names import canonical_policy_names, has_control_characters
from vaultguard.rules.registry import MAX_DISPLAY_NAME, stored_ceiling

from ..clock import rfc3339_now
from ..identity.model import Entity
from .model import Registration


class RegistryError(ValueError):
    """A refused request; `field` names the request field it is about, when there is one."""

    def __init__(self, message: str, status: int = 400, *, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.field = field


class RegistryTx(Protocol):
    def entity_by_id(self, namespace_id: str, entity_id: str) -> Entity | None: ...
    def registration_by_id(self, namespace_id: str, reg_id: str) -> Registration | None: ...
    def registration_by_name(self, namespace_id: str, display_name: str) -> Registration | None: ...
    def registration_by_entity(self, namespace_id: str, entity_id: str) -> Registration | None: ...
    def insert_registration(self, reg: Registration) -> None: ...
    def update_registration(self, reg: Registration) -> None: ...


def _validate_display_name(name: str) -> str:
    if not name or not name.strip():
        raise RegistryError('display_name: must not be empty', field="display_name")
    if len(name) > MAX_DISPLAY_NAME:
        raise RegistryError(f"display_name: longer than {MAX_DISPLAY_NAME} characters", field="display_name")
    if has_control_characters(name):
        raise RegistryError("display_name: must not contain control characters", field="display_name")
    return name


def _check_entity(tx: RegistryTx, namespace_id: str, entity_id: str, current_id: str | None) -> None:
    if not entity_id:
        raise RegistryError("entity_id: is required", field="entity_id")
    if tx.entity_by_id(namespace_id, entity_id) is None:
        raise RegistryError(f'entity_id: no identity entity with id "{entity_id}" in this namespace', field="entity_id")
    holder = tx.registration_by_entity(namespace_id, entity_id)
    if holder is not None and holder.id != current_id:
        raise RegistryError(
            f'entity_id: entity "{entity_id}" already has agent registration "{holder.id}" '
            f'("{holder.display_name}"); an entity can have only one',
            field="entity_id",
        )


def _check_name_free(tx: RegistryTx, namespace_id: str, name: str, current_id: str | None) -> None:
    holder = tx.registration_by_name(namespace_id, name)
    if holder is not None and holder.id != current_id:
        raise RegistryError(
            f'display_name: "{name}" is already used by agent registration "{holder.id}"',
            field="display_name",
        )


def _check_ceiling(policies: list[str]) -> None:
    if "root" in policies:
        raise RegistryError('ceiling_policies: "root" cannot be a ceiling policy', field="ceiling_policies")


def create(tx: RegistryTx, namespace_id: str, fields: Mapping[str, Any]) -> Registration:
    """`register` without an id: a new record (DECISIONS.md#d10: a taken display_name is an error, never an adopt)."""
    name = _validate_display_name(fields.get("display_name", ""))
    entity_id = fields.get("entity_id", "")
    declared = canonical_policy_names(fields.get("ceiling_policies", []))
    _check_ceiling(declared)
    _check_name_free(tx, namespace_id, name, None)
    _check_entity(tx, namespace_id, entity_id, None)
    now = rfc3339_now()
    no_default = bool(fields.get("no_default_ceiling_policy", False))
    reg = Registration(
        id=str(uuid.uuid4()),
        namespace_id=namespace_id,
        display_name=name,
        entity_id=entity_id,
        description=fields.get("description", ""),
        owner=fields.get("owner", ""),
        ceiling_policies=stored_ceiling(declared, no_default),
        no_default_ceiling_policy=no_default,
        optional_authorization_details=bool(fields.get("optional_authorization_details", False)),
        creation_time=now,
        last_updated_time=now,
    )
    tx.insert_registration(reg)
    return reg


def replace(tx: RegistryTx, existing: Registration, fields: Mapping[str, Any]) -> Registration:
    """Full replace of the mutable fields (DECISIONS.md#d10): omitted optional fields return to their defaults."""
    name = _validate_display_name(fields.get("display_name", existing.display_name))
    entity_id = fields.get("entity_id", "")
    declared = canonical_policy_names(fields.get("ceiling_policies", []))
    _check_ceiling(declared)
    _check_name_free(tx, existing.namespace_id, name, existing.id)
    _check_entity(tx, existing.namespace_id, entity_id, existing.id)
    no_default = bool(fields.get("no_default_ceiling_policy", False))
    reg = Registration(
        id=existing.id,
        namespace_id=existing.namespace_id,
        display_name=name,
        entity_id=entity_id,
        description=fields.get("description", ""),
        owner=fields.get("owner", ""),
        ceiling_policies=stored_ceiling(declared, no_default),
        no_default_ceiling_policy=no_default,
        optional_authorization_details=bool(fields.get("optional_authorization_details", False)),
        creation_time=existing.creation_time,
        last_updated_time=rfc3339_now(),
    )
    tx.update_registration(reg)
    return reg
