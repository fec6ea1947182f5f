"""Agent registrations: display names and ceiling policies."""

from __future__ import annotations

from vaultguard.rules.names import canonical_policy_names

MAX_DISPLAY_NAME = 512

DEFAULT_CEILING_POLICIES = ("default", "default-ceiling")
"""Appended to every registration's ceiling policies unless it opts out (`no_default_ceiling_policy`)."""


def stored_ceiling(declared: list[str], no_default_ceiling_policy: bool) -> list[str]:
    """The ceiling list as stored: the declared policies, then `default`, `default-ceiling` unless opted out."""
    policies = canonical_policy_names(declared)
    if not no_default_ceiling_policy:
        policies += [p for p in DEFAULT_CEILING_POLICIES if p not in policies]
    return policies
