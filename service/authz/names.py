"""Policy naming rules, importable without the policy parser (the provider checks names at plan time)."""

from __future__ import annotations

import re

POLICY_NAME_RULE = 'letters, digits, "-", "_", ".", "@" (starting with a letter or digit); at most 128 characters'
_POLICY_NAME = re.compile(r"[a-z0-9][a-z0-9_.@-]{0,127}")


def normalize_policy_name(name: str) -> str:
    """Return the stored form of a policy name: trimmed and lowercased, as Vault does."""
    return name.strip().lower()


def policy_name_problem(name: str) -> str | None:
    """Why `name` (already normalized) cannot name a policy, or None when it can."""
    if _POLICY_NAME.fullmatch(name) is None:
        return f"is not a valid policy name ({POLICY_NAME_RULE})"
    return None
