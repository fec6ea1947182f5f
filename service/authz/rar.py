"""RFC 9396 `authorization_details` of type `vault:path_access` (DECISIONS.md#d36, #d37, #d6, #d7).

Each entry becomes a one-rule ACL, so paths, capabilities, parameters and templates follow exactly the
ACL engine's rules (DECISIONS.md#d6). Entries are evaluated independently: the request is allowed when at least one
matching entry permits it and no matching entry denies it. Anything unusable is skipped and reported,
never treated as a grant.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .acl import ACL, AccessRequest, compile_acl
from .policy import CAPABILITIES, PathRule, Policy
from .templates import IdentityContext

RAR_TYPE = "vault:path_access"
MAX_ENTRIES = 256
MAX_PATH = 1024
MAX_PARAMETERS = 64
MAX_VALUES = 64


@dataclass(frozen=True)
class RarResult:
    """`reason`: rar_match, rar_no_match, rar_denied. `entries` are the indexes that matched or denied."""

    allowed: bool
    reason: str
    entries: tuple[int, ...] = ()


@dataclass(frozen=True)
class AuthorizationDetails:
    """The usable entries of one token's claim, compiled; `skipped` says why the rest were ignored."""

    entries: tuple[tuple[int, ACL], ...]
    skipped: tuple[tuple[int, str], ...]

    def evaluate(self, request: AccessRequest) -> RarResult:
        granted: list[int] = []
        for index, acl in self.entries:
            result = acl.evaluate(request)
            if result.reason == "explicit_deny":
                return RarResult(False, "rar_denied", (index,))
            if result.allowed:
                granted.append(index)
        if granted:
            return RarResult(True, "rar_match", tuple(granted))
        return RarResult(False, "rar_no_match")


def canonical_claim(details: Sequence[Any]) -> str:
    """The claim as canonical JSON (sorted keys, read-only mappings as objects): equal text ⇔ equal claim,
    so compiled results can be shared between tokens carrying the same claim."""
    # Entries as plain dicts up front: the C encoder then does all the work (no Python fallback per entry).
    return json.dumps([dict(entry) for entry in details], sort_keys=True, separators=(",", ":"), default=_plain)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (tuple, list)):
        return list(value)
    raise TypeError(f"not JSON data: {type(value).__name__}")


def compile_details(details: Sequence[Any], identity: IdentityContext | None) -> AuthorizationDetails:
    """Compile a claim already known to be an array (DECISIONS.md#d7: a non-array makes the token invalid upstream)."""
    entries: list[tuple[int, ACL]] = []
    skipped: list[tuple[int, str]] = []
    for index, raw in enumerate(details[:MAX_ENTRIES]):
        rule, problem = _entry_rule(raw)
        if rule is None:
            skipped.append((index, problem))
            continue
        templated = "{{" in rule.pattern
        acl = compile_acl([Policy(f"authorization_details[{index}]", (rule,), templated)], identity)
        if acl.is_empty:
            skipped.append((index, "template could not be resolved for the subject"))
            continue
        entries.append((index, acl))
    if len(details) > MAX_ENTRIES:
        skipped.append((MAX_ENTRIES, f"entries beyond the first {MAX_ENTRIES} are ignored"))
    return AuthorizationDetails(tuple(entries), tuple(skipped))


def _entry_rule(raw: Any) -> tuple[PathRule | None, str]:
    """The entry as a PathRule, or (None, why it is unusable)."""
    if not isinstance(raw, Mapping):
        return None, "entry is not an object"
    if raw.get("type") != RAR_TYPE:
        return None, f"type {raw.get('type')!r} is not {RAR_TYPE!r}"  # unknown types never grant (DECISIONS.md#d7)
    path = raw.get("path")
    if not isinstance(path, str) or not path.strip("/"):
        return None, "path is missing or not a non-empty string"
    path = path.lstrip("/")
    if (
        len(path) > MAX_PATH
        or "\x00" in path
        or "//" in path
        or any(s in (".", "..") for s in path.split("/"))
    ):
        return None, "path is too long or contains empty, '.' or '..' segments"
    if "*" in path[:-1] or path.endswith("+*"):
        return None, "'*' may only end a path"
    caps = raw.get("capabilities")
    if not isinstance(caps, list) or not caps or not all(isinstance(c, str) for c in caps):
        return None, "capabilities is missing or not a non-empty list of strings"
    unknown = sorted(set(caps) - CAPABILITIES)
    if unknown:
        return None, f"unknown capabilities {unknown}"
    try:
        allowed = _parameters(raw.get("allowed_parameters"), "allowed_parameters")
        denied = _parameters(raw.get("denied_parameters"), "denied_parameters")
        required = _required(raw.get("required_parameters"))
    except ValueError as exc:
        return None, str(exc)
    capabilities = frozenset(caps)
    if "deny" in capabilities:
        return PathRule(path, frozenset({"deny"})), ""
    return PathRule(path, capabilities, allowed, denied, required), ""


def _parameters(value: Any, name: str) -> Mapping[str, tuple]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping) or len(value) > MAX_PARAMETERS:
        raise ValueError(f"{name} is not an object of at most {MAX_PARAMETERS} parameters")
    out: dict[str, tuple] = {}
    for key, values in value.items():
        if not isinstance(values, list) or len(values) > MAX_VALUES:
            raise ValueError(f"{name}.{key} is not a list of at most {MAX_VALUES} values")
        if not all(isinstance(v, (str, int, float, bool)) for v in values):
            raise ValueError(f"{name}.{key} holds a value that is not a string, number or boolean")
        out[key.lower()] = tuple(values)
    return MappingProxyType(out)


def _required(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if (
        not isinstance(value, list)
        or len(value) > MAX_PARAMETERS
        or not all(isinstance(v, str) for v in value)
    ):
        raise ValueError("required_parameters is not a list of parameter names")
    return tuple(v.lower() for v in value)
