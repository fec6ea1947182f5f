"""The agent registration record (DECISIONS.md#d26)."""

from __future__ import annotations

from dataclasses import dataclass, field

from vaultguard.rules.registry import DEFAULT_CEILING_POLICIES  # noqa: F401 - re-exported


@dataclass
class Registration:
    """One agent's governance record; at most one per identity entity."""

    id: str
    namespace_id: str
    display_name: str
    entity_id: str
    description: str = ""
    owner: str = ""
    ceiling_policies: list[str] = field(default_factory=list)
    no_default_ceiling_policy: bool = False
    optional_authorization_details: bool = False
    creation_time: str = ""
    last_updated_time: str = ""

    def to_api(self) -> dict:
        """The `data` of a read response, in the field order Vault documents."""
        return {
            "id": self.id,
            "display_name": self.display_name,
            "entity_id": self.entity_id,
            "description": self.description,
            "owner": self.owner,
            "ceiling_policies": list(self.ceiling_policies),
            "no_default_ceiling_policy": self.no_default_ceiling_policy,
            "optional_authorization_details": self.optional_authorization_details,
            "creation_time": self.creation_time,
            "last_updated_time": self.last_updated_time,
        }

    def list_info(self) -> dict:
        """`key_info` entry for LIST: the superset the UI expects (DECISIONS.md#d13)."""
        return {
            "display_name": self.display_name,
            "entity_id": self.entity_id,
            "owner": self.owner,
            "creation_time": self.creation_time,
            "last_updated_time": self.last_updated_time,
            "no_default_ceiling_policy": self.no_default_ceiling_policy,
            "optional_authorization_details": self.optional_authorization_details,
        }
