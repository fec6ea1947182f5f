"""Canonical requests: each object name a route takes from its path is made canonical (or refused) once,
before the ACL check, and the check, the parameter check and the handler all use that one value.

A name rule says how the raw path segment (already percent-decoded once by the HTTP server) becomes the
name the handler stores or looks up. The rules, per field, are documented in docs/api.md ("Canonical
names"); the short version:

- policy names: trimmed and lowercased (as Vault's policy store does), then validated;
- namespace names: surrounding "/" dropped, then one valid name segment (case kept: names are exact);
- audit device names (sys/audit-hash): surrounding "/" dropped;
- every other name or id (entities, groups, aliases, registrations, profiles, config ids): verbatim. Storage
  compares them exactly and no code rewrites them, so the path the ACL sees already names the object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vaultguard.rules.names import namespace_name_problem, normalize_policy_name, policy_name_problem


class NotCanonical(ValueError):
    """A name that no canonical form exists for; the message names the field and the rule (a 400)."""


@dataclass(frozen=True)
class NameRule:
    """How one route turns the last part of its path into the object's canonical name."""

    field: str
    canonicalize: Callable[[str], str]  # the canonical name, or raises NotCanonical


def _policy_name(raw: str) -> str:
    name = normalize_policy_name(raw)
    problem = policy_name_problem(name)
    if problem:
        raise NotCanonical(f'name: "{raw}" {problem}')
    return name


def _namespace_name(raw: str) -> str:
    segment = raw.strip("/")
    if "/" in segment:
        raise NotCanonical(
            f'path: "{raw}" must be a single namespace name; create nested namespaces one level at a time'
        )
    problem = namespace_name_problem(segment)
    if problem:
        raise NotCanonical(f'path: "{segment}" {problem}')
    return segment


POLICY_NAME = NameRule("name", _policy_name)
NAMESPACE_NAME = NameRule("path", _namespace_name)
AUDIT_DEVICE = NameRule("path", lambda raw: raw.strip("/"))  # a device name never holds "/"


def canonical_path(path: str, raw_name: str, rule: NameRule) -> tuple[str, str]:
    """(the canonical path, the canonical name) for a `path` that ends in the route's `raw_name`."""
    name = rule.canonicalize(raw_name)
    if not path.endswith(raw_name):  # the router took the name from the path's end: a route bug
        raise NotCanonical(f"{rule.field}: does not end the request path")
    return path[: len(path) - len(raw_name)] + name, name
