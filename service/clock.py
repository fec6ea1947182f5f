"""Time formats used in API responses."""

from datetime import UTC, datetime


def rfc3339_now() -> str:
    """RFC 3339 UTC with second precision, as Vault's registry documents (`2026-05-15T10:30:00Z`)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
