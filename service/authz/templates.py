"""Identity templates in ACL path patterns (DECISIONS.md#d40).

A pattern such as ``secret/data/{{identity.entity.id}}/*`` is rendered per caller when an ACL is compiled.
Rendering is all-or-nothing: a placeholder that cannot be resolved makes the whole pattern unresolvable,
and the caller drops that path block (an unresolvable template never grants anything).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

_EMPTY: Mapping[str, str] = MappingProxyType({})

# Whitespace inside the braces is tolerated, as Vault does: "{{ identity.entity.id }}".
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")

# A substituted value must not change the shape of the pattern: "*" and "+" are refused by Vault (DECISIONS.md#d40);
# "/" is refused by us so that an entity named "team-a/x" cannot reach into "team-a"'s subtree, and an empty
# value is refused because "secret/{{...}}*" would otherwise become "secret/*".
_FORBIDDEN_IN_VALUE = frozenset("*+/")


@dataclass(frozen=True)
class AliasContext:
    """One entity alias, as seen by templates (keyed by mount accessor in IdentityContext.aliases)."""

    id: str
    name: str
    metadata: Mapping[str, str] = field(default_factory=lambda: _EMPTY, hash=False)
    custom_metadata: Mapping[str, str] = field(default_factory=lambda: _EMPTY, hash=False)


@dataclass(frozen=True)
class GroupContext:
    """One identity group the entity belongs to (directly or through nesting)."""

    id: str
    name: str
    metadata: Mapping[str, str] = field(default_factory=lambda: _EMPTY, hash=False)


@dataclass(frozen=True)
class IdentityContext:
    """Everything an identity template may read about the caller's entity."""

    entity_id: str
    entity_name: str
    metadata: Mapping[str, str] = field(default_factory=lambda: _EMPTY, hash=False)
    aliases: Mapping[str, AliasContext] = field(default_factory=lambda: _EMPTY, hash=False)
    groups: tuple[GroupContext, ...] = ()


def render_template(pattern: str, ctx: IdentityContext | None) -> str | None:
    """Substitute every ``{{...}}`` placeholder in ``pattern`` with values from ``ctx``.

    Returns the pattern unchanged when it holds no placeholder, and None when any placeholder is unknown or
    has no value for this identity, when there is no identity at all, or when a value is empty or contains
    ``*``, ``+`` or ``/`` (a rendered value must never widen or reshape the pattern).
    """
    if "{{" not in pattern and "}}" not in pattern:
        return pattern
    if ctx is None or not ctx.entity_id:
        return None
    pieces: list[str] = []
    end = 0
    for match in _PLACEHOLDER.finditer(pattern):
        value = _resolve(match.group(1), ctx)
        if value is None or not _FORBIDDEN_IN_VALUE.isdisjoint(value):
            return None
        pieces.append(pattern[end : match.start()])
        pieces.append(value)
        end = match.end()
    pieces.append(pattern[end:])
    rendered = "".join(pieces)
    # Stray braces mean a malformed placeholder; never guess what it meant.
    if "{{" in rendered or "}}" in rendered:
        return None
    return rendered


def template_problem(pattern: str) -> str | None:
    """Describe what is wrong with the placeholders in ``pattern`` (None when they are all well formed).

    Used at parse time so that a typo in a template is reported to the policy author instead of silently
    dropping the block for every caller.
    """
    end = 0
    for match in _PLACEHOLDER.finditer(pattern):
        if "{{" in pattern[end : match.start()] or "}}" in pattern[end : match.start()]:
            return "unbalanced template braces"
        selector = match.group(1)
        if not _is_known_selector(selector):
            return f'unknown template "{{{{{selector}}}}}"'
        end = match.end()
    if "{{" in pattern[end:] or "}}" in pattern[end:]:
        return "unbalanced template braces"
    return None


def _split_first(text: str) -> tuple[str, str] | None:
    """Split "a.rest" into ("a", "rest"); None when there is no dot or either side is empty.

    Accessors, group ids and group names are taken up to the first dot, so a group whose name contains a
    dot cannot be addressed by name (metadata keys, being last, may contain dots).
    """
    head, dot, rest = text.partition(".")
    if not dot or not head or not rest:
        return None
    return head, rest


def _metadata_key(field_path: str) -> str | None:
    """Return <k> for "metadata.<k>" (the key may itself contain dots)."""
    prefix = "metadata."
    if field_path.startswith(prefix) and len(field_path) > len(prefix):
        return field_path[len(prefix) :]
    return None


def _is_known_selector(selector: str) -> bool:
    """True when ``selector`` has the shape of a supported placeholder (values are not looked up)."""
    if selector in ("identity.entity.id", "identity.entity.name"):
        return True
    if selector.startswith("identity.entity.metadata."):
        return len(selector) > len("identity.entity.metadata.")
    if selector.startswith("identity.entity.aliases."):
        split = _split_first(selector[len("identity.entity.aliases.") :])
        if split is None:
            return False
        attr = split[1]
        return (
            attr in ("id", "name")
            or _metadata_key(attr) is not None
            or (attr.startswith("custom_metadata.") and len(attr) > len("custom_metadata."))
        )
    if selector.startswith("identity.groups.ids."):
        split = _split_first(selector[len("identity.groups.ids.") :])
        return split is not None and (split[1] == "name" or _metadata_key(split[1]) is not None)
    if selector.startswith("identity.groups.names."):
        split = _split_first(selector[len("identity.groups.names.") :])
        return split is not None and (split[1] == "id" or _metadata_key(split[1]) is not None)
    return False


def _resolve(selector: str, ctx: IdentityContext) -> str | None:
    """Look one placeholder up in ``ctx``; None when unknown or absent."""
    if selector == "identity.entity.id":
        return ctx.entity_id
    if selector == "identity.entity.name":
        return ctx.entity_name or None
    if selector.startswith("identity.entity.metadata."):
        return _string_or_none(ctx.metadata.get(selector[len("identity.entity.metadata.") :]))
    if selector.startswith("identity.entity.aliases."):
        split = _split_first(selector[len("identity.entity.aliases.") :])
        if split is None:
            return None
        accessor, attr = split
        alias = ctx.aliases.get(accessor)
        if alias is None:
            return None
        if attr == "id":
            return alias.id or None
        if attr == "name":
            return alias.name or None
        if attr.startswith("custom_metadata."):
            return _string_or_none(alias.custom_metadata.get(attr[len("custom_metadata.") :]))
        key = _metadata_key(attr)
        return None if key is None else _string_or_none(alias.metadata.get(key))
    if selector.startswith("identity.groups.ids."):
        split = _split_first(selector[len("identity.groups.ids.") :])
        if split is None:
            return None
        group = next((g for g in ctx.groups if g.id == split[0]), None)
        return None if group is None else _group_attr(group, split[1], "name")
    if selector.startswith("identity.groups.names."):
        split = _split_first(selector[len("identity.groups.names.") :])
        if split is None:
            return None
        group = next((g for g in ctx.groups if g.name == split[0]), None)
        return None if group is None else _group_attr(group, split[1], "id")
    return None


def _group_attr(group: GroupContext, attr: str, plain: str) -> str | None:
    """Read ``plain`` ("id" or "name") or "metadata.<k>" from a group."""
    if attr == plain:
        return getattr(group, plain) or None
    key = _metadata_key(attr)
    return None if key is None else _string_or_none(group.metadata.get(key))


def _string_or_none(value: object) -> str | None:
    # An empty value is unresolvable: "secret/{{...}}*" rendered with "" would become "secret/*".
    return value if isinstance(value, str) and value else None
