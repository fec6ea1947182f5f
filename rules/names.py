"""Policy names and namespace names: what the service accepts and how it stores them."""

from __future__ import annotations

import re

# ---- any name or path ------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # C0 controls and DEL


def has_control_characters(text: str) -> bool:
    """Whether `text` holds a C0 control character or DEL, which no name or path the service stores may hold."""
    return _CONTROL.search(text) is not None


# ---- policy names ----------------------------------------------------------------------------------------

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


def canonical_policy_names(names: list[str]) -> list[str]:
    """A requested list of policy names as stored: each normalized, empties and repeats dropped, order kept.

    The one rule for every field holding policy names (entity policies, ceiling policies, token policies),
    applied before the ACL's parameter check so the check sees what will be stored."""
    seen: dict[str, None] = {}
    for name in names:
        clean = normalize_policy_name(name)
        if clean:
            seen.setdefault(clean, None)
    return list(seen)


# ---- namespace names -------------------------------------------------------------------------------------

# First path segments that start a namespace-relative Vault path; a namespace may not take these names.
MOUNT_ROOTS = frozenset({"sys", "agent-registry", "identity", "auth", "secret", "cubbyhole"})
RESERVED_NAMES = MOUNT_ROOTS | {"audit", "root"}
MAX_DEPTH = 8
NAME_RULE = 'letters, digits, "-", "_", "." (starting with a letter or digit); at most 64 characters; no "/"'
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def namespace_name_problem(name: str) -> str | None:
    """Why `name` cannot be one namespace segment, or None when it can."""
    if not isinstance(name, str) or _SEGMENT.fullmatch(name) is None or name in (".", ".."):
        return f"is not a valid namespace name ({NAME_RULE})"
    if name in RESERVED_NAMES:
        return f"is a reserved name ({', '.join(sorted(RESERVED_NAMES))})"
    return None
