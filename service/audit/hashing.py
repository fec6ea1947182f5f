"""HMAC-SHA256 under the per-server audit key: the only form in which tokens and data reach an audit log."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

PREFIX = "hmac-sha256:"


class Hasher:
    """Hashes strings, and the string values inside JSON-like data (keys, numbers and booleans stay clear)."""

    def __init__(self, key: bytes):
        if len(key) < 32:
            raise ValueError("the audit HMAC key must be at least 32 bytes")
        self._key = key

    def hash(self, value: str) -> str:
        """`hmac-sha256:<hex>`; "" stays "" so an absent token is not mistaken for a hashed one."""
        return self.digest(value) if value else ""

    def digest(self, value: str) -> str:
        """`hmac-sha256:<hex>` of any string, the empty one included (`sys/audit-hash`)."""
        return PREFIX + hmac.digest(self._key, value.encode("utf-8", "surrogatepass"), "sha256").hex()

    def values(self, data: Any) -> Any:
        """A copy of `data` with every string value hashed, at any depth (as Vault's audit devices do).

        Raises RecursionError for absurdly deep input; callers then leave the data out of the entry.
        """
        if isinstance(data, str):
            return self.hash(data)
        if isinstance(data, Mapping):
            return {str(k): self.values(v) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.values(v) for v in data]
        return data
