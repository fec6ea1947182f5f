"""Admin tokens: the Vault-style token store's records and rules (stored only as hashes)."""

from __future__ import annotations

import hashlib
import secrets
import string
from dataclasses import dataclass, field

_ALPHABET = string.ascii_letters + string.digits


def new_token() -> str:
    """A service token in Vault's `hvs.` shape with 144 bits of randomness."""
    return "hvs." + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def new_accessor() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(24))


def token_hash(token: str) -> str:
    """The only form in which a token is stored or compared."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class TokenRecord:
    id_hash: str
    accessor: str
    namespace_id: str
    policies: list[str]
    display_name: str = "token"
    parent_accessor: str = ""
    meta: dict[str, str] = field(default_factory=dict)
    creation_time: float = 0.0  # unix seconds
    expire_time: float | None = None  # unix seconds; None = never
    creation_ttl: int = 0
    explicit_max_ttl: int = 0
    num_uses: int = 0
    renewable: bool = False
    orphan: bool = False
    entity_id: str = ""

    @property
    def is_root(self) -> bool:
        return "root" in self.policies

    def expired(self, now: float) -> bool:
        return self.expire_time is not None and now >= self.expire_time
