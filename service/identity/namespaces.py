"""Namespace naming rules, shared by the HTTP API and the Terraform provider's plan-time validation."""

from __future__ import annotations

import re

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
