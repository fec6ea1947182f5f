"""Who is asking: the human subject and the acting agent named by a validated token (DECISIONS.md#d33).

The subject comes from the profile's `user_claim`, the actor from its `actor_claim`; both are found through
entity aliases keyed by (issuer, external_id) in the request's namespace only (DECISIONS.md#d18). The registration that
governs the request is the actor's in a delegated request and the subject's otherwise (DECISIONS.md#d20).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..registry.model import Registration
from .model import Alias, Entity


@dataclass(frozen=True)
class Resolution:
    subject: Entity
    actor: Entity | None  # None in a direct (non-delegated) request
    registration: Registration  # the registration checked for this request (DECISIONS.md#d20)

    @property
    def delegated(self) -> bool:
        return self.actor is not None

    @property
    def agent(self) -> Entity:
        return self.actor or self.subject


class Unresolved(Exception):
    """The token names nobody usable; `layer` is "identity" or "registry", `reason` a stable code."""

    def __init__(self, layer: str, reason: str, detail: str):
        super().__init__(detail)
        self.layer = layer
        self.reason = reason
        self.detail = detail


class IdentityDirectory(Protocol):
    def alias_by_issuer(self, namespace_id: str, issuer: str, external_id: str) -> Alias | None: ...
    def entity_by_id(self, namespace_id: str, entity_id: str) -> Entity | None: ...
    def registration_by_entity(self, namespace_id: str, entity_id: str) -> Registration | None: ...


def _entity(directory: IdentityDirectory, namespace_id: str, issuer: str, external_id: str, role: str) -> Entity:
    alias = directory.alias_by_issuer(namespace_id, issuer, external_id)
    if alias is None:
        raise Unresolved(
            "identity", f"{role}_alias_not_found", f'no entity alias for issuer "{issuer}" and {role} "{external_id}"'
        )
    entity = directory.entity_by_id(namespace_id, alias.canonical_id)
    if entity is None:  # the alias outlived its entity: treat as unknown
        raise Unresolved("identity", f"{role}_alias_not_found", f'alias "{alias.id}" points at a missing entity')
    if entity.disabled:
        raise Unresolved("identity", f"{role}_disabled", f'{role} entity "{entity.id}" ({entity.name}) is disabled')
    return entity


def resolve(
    directory: IdentityDirectory, namespace_id: str, issuer: str, subject: str, actor: str | None
) -> Resolution:
    """Resolve subject, actor and the governing registration, or raise `Unresolved`."""
    subject_entity = _entity(directory, namespace_id, issuer, subject, "subject")
    actor_entity = _entity(directory, namespace_id, issuer, actor, "actor") if actor is not None else None
    agent = actor_entity or subject_entity
    registration = directory.registration_by_entity(namespace_id, agent.id)
    if registration is None:
        role = "actor" if actor_entity is not None else "subject"
        raise Unresolved(
            "registry", f"{role}_not_registered", f'{role} entity "{agent.id}" ({agent.name}) has no agent registration'
        )
    return Resolution(subject_entity, actor_entity, registration)
