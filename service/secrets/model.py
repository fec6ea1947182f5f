"""The KV version 2 records: engine configuration, a key's metadata and its versions.

Times are integer unix microseconds (exact, and cheap to compare); they are rendered the way Vault renders
protobuf timestamps (RFC 3339, UTC, fraction without trailing zeros). Durations are whole seconds, rendered
as Go's `time.Duration.String()` ("0s", "1m30s", "1h0m0s").
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

DEFAULT_MAX_VERSIONS = 10  # when neither the key nor the engine sets max_versions
DELETE_VERSION_AFTER_DISABLED = -1  # engine-level: turns delete_version_after off for every key

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def now_micros() -> int:
    return time.time_ns() // 1000


@lru_cache(maxsize=4096)  # a read renders the same few stored times again and again (the agents' hot path)
def timestamp(micros: int | None) -> str:
    """RFC 3339 UTC like `2018-03-22T02:24:06.945319Z`; "" for no time (Vault's empty deletion_time)."""
    if micros is None:
        return ""
    moment = _EPOCH + timedelta(microseconds=micros)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def go_duration(seconds: int) -> str:
    """Go's Duration.String() for whole seconds: 0s, 45s, 1m30s, 1h0m0s, -1s."""
    if seconds == 0:
        return "0s"
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{sign}{minutes}m{secs}s"
    return f"{sign}{secs}s"


@dataclass
class EngineConfig:
    """Mount-wide settings (`secret/config`); one per namespace, defaults when never written."""

    max_versions: int = 0
    cas_required: bool = False
    delete_version_after: int = 0  # seconds; DELETE_VERSION_AFTER_DISABLED turns it off for every key

    def to_api(self) -> dict[str, Any]:
        return {
            "cas_required": self.cas_required,
            "delete_version_after": go_duration(self.delete_version_after),
            "max_versions": self.max_versions,
        }


@dataclass
class VersionInfo:
    """One version's bookkeeping; its data lives beside it in storage, not here."""

    number: int
    created_time: int
    deletion_time: int | None = None  # may lie in the future (delete_version_after)
    destroyed: bool = False

    def is_deleted(self, now: int) -> bool:
        return self.deletion_time is not None and self.deletion_time <= now

    def is_live(self, now: int) -> bool:
        """Readable: neither destroyed nor (already) deleted."""
        return not self.destroyed and not self.is_deleted(now)

    def to_api(self) -> dict[str, Any]:
        return {
            "created_time": timestamp(self.created_time),
            "deletion_time": timestamp(self.deletion_time),
            "destroyed": self.destroyed,
        }


@dataclass
class SecretKey:
    """A key's metadata and the versions it still keeps (oldest pruned by max_versions)."""

    path: str
    current_version: int = 0
    oldest_version: int = 0
    max_versions: int = 0
    cas_required: bool = False
    delete_version_after: int = 0
    custom_metadata: dict[str, str] | None = None
    created_time: int = 0
    updated_time: int = 0
    versions: dict[int, VersionInfo] = field(default_factory=dict)

    def version_metadata(self, version: VersionInfo) -> dict[str, Any]:
        """The `metadata` block of a data read, and the `data` of a write response."""
        return {
            "created_time": timestamp(version.created_time),
            "custom_metadata": self.custom_metadata,
            "deletion_time": timestamp(version.deletion_time),
            "destroyed": version.destroyed,
            "version": version.number,
        }

    def to_api(self) -> dict[str, Any]:
        """`data` of a metadata read."""
        return {
            "cas_required": self.cas_required,
            "created_time": timestamp(self.created_time),
            "current_version": self.current_version,
            "custom_metadata": self.custom_metadata,
            "delete_version_after": go_duration(self.delete_version_after),
            "max_versions": self.max_versions,
            "oldest_version": self.oldest_version,
            "updated_time": timestamp(self.updated_time),
            "versions": {str(n): self.versions[n].to_api() for n in sorted(self.versions)},
        }


@dataclass
class Change:
    """What one operation did to a key, for the repository to persist in the same transaction."""

    key: SecretKey
    new_key: bool = False  # the key's metadata must be inserted, not updated
    added: VersionInfo | None = None  # stored with the data the caller encoded
    updated: list[VersionInfo] = field(default_factory=list)  # deletion_time / destroyed changed
    pruned: list[int] = field(default_factory=list)  # version numbers to remove for good

    @property
    def touched(self) -> bool:
        return self.new_key or self.added is not None or bool(self.updated) or bool(self.pruned)
