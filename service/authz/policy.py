"""Stage 1 of the ACL engine: parse policy text (HCL or JSON) into Policy objects.

Parsing is strict: unknown keys, unknown capabilities, misplaced wildcards and duplicate attributes are
errors whose message names the path block they came from, so a policy author can fix them before the
policy is stored. Compiling and evaluating policies lives in ``acl.py``.
"""

from __future__ import annotations

import difflib
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from hcl.parser import HclParser

from vaultguard.rules.names import normalize_policy_name, policy_name_problem  # noqa: F401 - re-exported

from .templates import template_problem

CAPABILITIES: frozenset[str] = frozenset(
    {"create", "read", "update", "patch", "delete", "list", "sudo", "deny", "subscribe", "recover"}
)

MAX_POLICY_BYTES = 1024 * 1024
MAX_PATH_BLOCKS = 10_000
MAX_PATTERN_CHARS = 4096

# The legacy one-word shorthand (policy = "write") predates capabilities; Vault maps it like this.
_LEGACY_POLICY: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "deny": frozenset({"deny"}),
        "read": frozenset({"read", "list"}),
        "write": frozenset({"create", "read", "update", "delete", "list"}),
        "sudo": frozenset({"create", "read", "update", "delete", "list", "sudo"}),
    }
)

_TOP_LEVEL_KEYS = ("name", "path")
_PATH_KEYS = (
    "capabilities",
    "policy",
    "allowed_parameters",
    "denied_parameters",
    "required_parameters",
    "min_wrapping_ttl",
    "max_wrapping_ttl",
    "comment",
)
# Valid in Vault Enterprise but not enforced here; ignoring them would silently grant more than the author
# meant (an MFA or control-group requirement would vanish), so they are refused by name.
_UNSUPPORTED_PATH_KEYS = ("mfa_methods", "control_group", "subscribe_event_types")

_EMPTY_PARAMS: Mapping[str, tuple] = MappingProxyType({})


class PolicyError(ValueError):
    """A policy that cannot be parsed; the message names the path block and the problem."""


@dataclass(frozen=True)
class PathRule:
    """One ``path "<pattern>" { ... }`` block after validation.

    Parameter names are stored lowercase, as Vault compares them. A rule whose capabilities include
    ``deny`` holds only ``deny`` and no parameter constraints.
    """

    pattern: str
    capabilities: frozenset[str]
    allowed_parameters: Mapping[str, tuple] = field(default_factory=lambda: _EMPTY_PARAMS, hash=False)
    denied_parameters: Mapping[str, tuple] = field(default_factory=lambda: _EMPTY_PARAMS, hash=False)
    required_parameters: tuple[str, ...] = ()
    min_wrapping_ttl: int = 0
    max_wrapping_ttl: int = 0

    @property
    def is_deny(self) -> bool:
        """True when this block denies everything on its pattern."""
        return "deny" in self.capabilities


@dataclass(frozen=True)
class Policy:
    """A named, parsed ACL policy: its path rules in the order they were first written."""

    name: str
    rules: tuple[PathRule, ...]
    templated: bool


def parse_policy(name: str, text: str) -> Policy:
    """Parse HCL or JSON policy ``text`` into a Policy named ``name`` (normalized).

    Raises PolicyError for syntax errors (with the line number), unknown keys or capabilities, misplaced
    wildcards, duplicate attributes, malformed parameters or wrapping TTLs, and oversized input. An empty
    text, or one without path blocks, is a valid policy that grants nothing.
    """
    normalized = normalize_policy_name(name)
    if not normalized:
        raise PolicyError("policy name must not be empty")
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_POLICY_BYTES:
        raise PolicyError(f"policy text is {size} bytes; the limit is {MAX_POLICY_BYTES} (1 MiB)")
    try:
        document = _load_document(text)
        rules = _rules_from_document(document)
    except RecursionError:
        raise PolicyError("failed to parse policy: the document nests too deeply") from None
    return Policy(name=normalized, rules=rules, templated=any("{{" in r.pattern for r in rules))


def merge_rules(existing: PathRule, other: PathRule) -> PathRule:
    """Merge two rules for the same pattern, as Vault merges one path across policies.

    ``deny`` on either side leaves a deny-only rule; otherwise capabilities are OR-ed, parameter maps are
    merged per key (an empty value list, meaning "any value", wins; otherwise the lists concatenate),
    required parameters are united and each wrapping TTL bound takes the smaller value that is set.
    """
    if existing.is_deny:
        return existing
    if other.is_deny:
        return other
    return PathRule(
        pattern=existing.pattern,
        capabilities=existing.capabilities | other.capabilities,
        allowed_parameters=_merge_parameter_maps(existing.allowed_parameters, other.allowed_parameters),
        denied_parameters=_merge_parameter_maps(existing.denied_parameters, other.denied_parameters),
        required_parameters=tuple(dict.fromkeys(existing.required_parameters + other.required_parameters)),
        min_wrapping_ttl=_smaller_set_ttl(existing.min_wrapping_ttl, other.min_wrapping_ttl),
        max_wrapping_ttl=_smaller_set_ttl(existing.max_wrapping_ttl, other.max_wrapping_ttl),
    )


def _merge_parameter_maps(left: Mapping[str, tuple], right: Mapping[str, tuple]) -> Mapping[str, tuple]:
    if not right:
        return left
    if not left:
        return right
    merged = dict(left)
    for key, values in right.items():
        if key not in merged:
            merged[key] = values
        elif not values or not merged[key]:
            merged[key] = ()
        else:
            merged[key] = merged[key] + values
    return MappingProxyType(merged)


def _smaller_set_ttl(left: int, right: int) -> int:
    # 0 means "not set", so it never wins over a real bound.
    if not left or not right:
        return left or right
    return min(left, right)


# ---------------------------------------------------------------------------------------------------------
# Reading the document
# ---------------------------------------------------------------------------------------------------------


class _Pairs(tuple):
    """The (key, value) items of one HCL/JSON object, in order and with duplicates kept.

    pyhcl folds repeated keys into one dict entry (the last ``path "x"`` block silently replaces an earlier
    one, repeated attributes turn into nested lists), which would hide both duplicate attributes and
    duplicate path blocks. Keeping the raw items lets us reject the first and merge the second.
    """

    __slots__ = ()


class _ItemPreservingHclParser(HclParser):
    """pyhcl's HCL grammar, building objects as _Pairs instead of folding them into dicts.

    ``objectlist_flat`` is the single hook pyhcl uses to turn an object's item list into a dict; the grammar
    and the parse tables are inherited unchanged. The test suite asserts both duplicate attributes and
    duplicate blocks are seen, so a pyhcl release that renamed the hook would fail loudly, not silently.
    """

    def objectlist_flat(self, lt: list[tuple[Any, Any]], replace: bool) -> _Pairs:  # noqa: ARG002
        return _Pairs(lt)


# pyhcl builds its LALR tables in the parser's constructor (about 20 ms, and it does not cache them), so one
# parser is kept; ply's parser keeps per-parse state on the instance, hence the lock.
_hcl_lock = threading.Lock()
_hcl_parser: _ItemPreservingHclParser | None = None


def _parse_hcl(text: str) -> Any:
    global _hcl_parser
    with _hcl_lock:
        if _hcl_parser is None:
            _hcl_parser = _ItemPreservingHclParser()
        return _hcl_parser.parse(text)


# pyhcl token names → what the author typed, for readable syntax errors.
_TOKEN_TEXT = {
    "LEFTBRACE": "'{'",
    "RIGHTBRACE": "'}'",
    "LEFTBRACKET": "'['",
    "RIGHTBRACKET": "']'",
    "LEFTPAREN": "'('",
    "RIGHTPAREN": "')'",
    "COMMA": "','",
    "EQUAL": "'='",
    "COLON": "':'",
    "PERIOD": "'.'",
    "STRING": "a string",
    "IDENTIFIER": "a name",
    "NUMBER": "a number",
    "FLOAT": "a number",
    "BOOL": "a boolean",
    "MINUS": "'-'",
    "$end": "end of input",
}
_PARSER_ERROR = re.compile(r"^Line (\d+), column (\d+): unexpected (\S+)(?:; expected (.*))?$", re.S)
_LEXER_ERROR = re.compile(r"^Line (\d+), column (\d+), index \d+: (.*)$", re.S)
_EOF_ERROR = re.compile(r"^Unexpected end of file(?:; expected (.*))?$", re.S)
_JSON_POSITION = re.compile(r": line (\d+) column (\d+) \(char \d+\)$")


def _load_document(text: str) -> _Pairs:
    """Parse HCL or JSON (chosen like Vault and pyhcl: JSON when the first non-space character is '{')."""
    if text.lstrip().startswith("{"):
        try:
            document = json.loads(text, object_pairs_hook=_Pairs)
        except json.JSONDecodeError as exc:
            raise PolicyError(
                f"failed to parse policy: line {exc.lineno}: {exc.msg} (column {exc.colno})"
            ) from None
        if not isinstance(document, _Pairs):
            raise PolicyError("failed to parse policy: the top level must be an object")
        return document
    try:
        document = _parse_hcl(text)
    except ValueError as exc:
        raise PolicyError(f"failed to parse policy: {_describe_hcl_error(str(exc), text)}") from None
    return document if isinstance(document, _Pairs) else _Pairs(document or ())


def _describe_hcl_error(message: str, text: str) -> str:
    """Turn a pyhcl error into "line N: ..." with a real column (pyhcl's parser reports an offset)."""
    match = _PARSER_ERROR.match(message)
    if match:
        line, offset, token, expected = match.groups()
        column = int(offset) - text.rfind("\n", 0, int(offset))
        return (
            f"line {line}: unexpected {_TOKEN_TEXT.get(token, token)} at column {column}{_expected(expected)}"
        )
    match = _LEXER_ERROR.match(message)
    if match:
        line, column, problem = match.groups()
        # pyhcl's lexer counts columns from 0; people count from 1.
        return f"line {line}: {problem} at column {int(column) + 1}"
    match = _EOF_ERROR.match(message)
    if match:
        return f"line {text.count(chr(10)) + 1}: unexpected end of input{_expected(match.group(1))}"
    return message


def _expected(expected: str | None) -> str:
    if not expected:
        return ""
    names = [n.strip() for n in expected.split(",")]
    words = dict.fromkeys(_TOKEN_TEXT.get(n, n) for n in names if n and "COMMENT" not in n)
    return "; expected " + " or ".join(words) if words else ""


# ---------------------------------------------------------------------------------------------------------
# From document to rules
# ---------------------------------------------------------------------------------------------------------


def _rules_from_document(document: _Pairs) -> tuple[PathRule, ...]:
    seen_attributes: set[str] = set()
    blocks: list[tuple[str, Any]] = []
    for key, value in document:
        if key not in _TOP_LEVEL_KEYS:
            raise PolicyError(f'unknown top-level key "{key}"{_suggest(key, _TOP_LEVEL_KEYS)}')
        if key == "path":
            blocks.extend(_path_blocks(value))
            if len(blocks) > MAX_PATH_BLOCKS:
                raise PolicyError(f"policy has more than {MAX_PATH_BLOCKS} path blocks")
        elif key in seen_attributes:
            raise PolicyError(f'duplicate top-level attribute "{key}"')
        else:
            seen_attributes.add(key)

    # Repeated blocks for one pattern merge exactly like the same pattern in two policies.
    rules: dict[str, PathRule] = {}
    for raw_pattern, body in blocks:
        rule = _path_rule(raw_pattern, body)
        rules[rule.pattern] = merge_rules(rules[rule.pattern], rule) if rule.pattern in rules else rule
    return tuple(rules.values())


def _path_blocks(value: Any) -> Iterable[tuple[str, Any]]:
    """Yield (pattern, body) for every block under a top-level "path" key, whatever form it was written in."""
    if isinstance(value, dict):  # path "x" { ... } (pyhcl builds a dict for a labelled block)
        return list(value.items())
    if isinstance(value, _Pairs):  # path = { "x" = {...} } or JSON {"path": {"x": {...}}}
        return list(value)
    if isinstance(value, list):  # JSON {"path": [{"x": {...}}, ...]}
        blocks: list[tuple[str, Any]] = []
        for item in value:
            if not isinstance(item, _Pairs):
                raise PolicyError('"path" list entries must be objects of pattern to block')
            blocks.extend(item)
        return blocks
    raise PolicyError('"path" must be a block, e.g. path "secret/*" { capabilities = ["read"] }')


def _path_rule(raw_pattern: Any, body: Any) -> PathRule:
    label = _label(raw_pattern)
    if not isinstance(raw_pattern, str):
        raise PolicyError(f"{label}: the pattern must be a string")
    if len(raw_pattern) > MAX_PATTERN_CHARS:
        raise PolicyError(
            f"{label}: pattern is {len(raw_pattern)} characters; the limit is {MAX_PATTERN_CHARS}"
        )
    if isinstance(body, dict):
        # pyhcl builds a plain dict for "{}" and for a block with a second label.
        if body:
            raise PolicyError(f"{label}: a path block takes exactly one label")
        body = _Pairs()
    if not isinstance(body, _Pairs):
        raise PolicyError(f"{label}: the block body must be an object")
    pattern = raw_pattern[1:] if raw_pattern.startswith("/") else raw_pattern
    _check_pattern(pattern, label)

    attributes: dict[str, Any] = {}
    for key, value in body:
        if key in _UNSUPPORTED_PATH_KEYS:
            raise PolicyError(f'{label}: "{key}" is not supported by vaultguard')
        if key not in _PATH_KEYS:
            raise PolicyError(f'{label}: unknown key "{key}"{_suggest(key, _PATH_KEYS)}')
        if key in attributes:
            # Vault 2.0.4 removed duplicate attributes: the second one is an error, not an override.
            raise PolicyError(f'{label}: duplicate attribute "{key}"')
        attributes[key] = value

    capabilities = _capabilities(attributes.get("capabilities", []), label)
    if "policy" in attributes:
        capabilities |= _legacy_policy(attributes["policy"], label)
    allowed = _parameter_map(attributes.get("allowed_parameters"), "allowed_parameters", label)
    denied = _parameter_map(attributes.get("denied_parameters"), "denied_parameters", label)
    required = _required_parameters(attributes.get("required_parameters"), label)
    min_ttl = _duration(attributes.get("min_wrapping_ttl", 0), "min_wrapping_ttl", label)
    max_ttl = _duration(attributes.get("max_wrapping_ttl", 0), "max_wrapping_ttl", label)
    if min_ttl and max_ttl and max_ttl < min_ttl:
        raise PolicyError(
            f"{label}: max_wrapping_ttl ({max_ttl}s) must not be less than min_wrapping_ttl ({min_ttl}s)"
        )
    if "deny" in capabilities:
        # Deny overrides everything in the block, parameter constraints included.
        return PathRule(pattern=pattern, capabilities=frozenset({"deny"}))
    return PathRule(
        pattern=pattern,
        capabilities=capabilities,
        allowed_parameters=allowed,
        denied_parameters=denied,
        required_parameters=required,
        min_wrapping_ttl=min_ttl,
        max_wrapping_ttl=max_ttl,
    )


def _label(raw_pattern: Any) -> str:
    """How errors name a block: path "secret/*" (long patterns shortened)."""
    text = str(raw_pattern)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"path {json.dumps(text, ensure_ascii=False)}"


def _check_pattern(pattern: str, label: str) -> None:
    star = pattern.find("*")
    if star != -1 and star != len(pattern) - 1:
        raise PolicyError(f'{label}: "*" is only allowed as the last character of a pattern')
    if pattern.endswith("+*"):
        raise PolicyError(f'{label}: "+*" is not allowed; use "+" for one segment or "*" for any suffix')
    problem = template_problem(pattern)
    if problem:
        raise PolicyError(f"{label}: {problem}")


def _capabilities(value: Any, label: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise PolicyError(f'{label}: capabilities must be a list of strings, e.g. ["read", "list"]')
    for capability in value:
        if capability not in CAPABILITIES:
            raise PolicyError(
                f'{label}: unknown capability "{capability}"{_suggest(capability, CAPABILITIES)}'
            )
    return frozenset(value)


def _legacy_policy(value: Any, label: str) -> frozenset[str]:
    if not isinstance(value, str) or value not in _LEGACY_POLICY:
        choices = ", ".join(f'"{k}"' for k in sorted(_LEGACY_POLICY))
        raise PolicyError(f"{label}: invalid policy {json.dumps(value)} (expected one of {choices})")
    return _LEGACY_POLICY[value]


def _parameter_map(value: Any, key: str, label: str) -> Mapping[str, tuple]:
    if value is None:
        return _EMPTY_PARAMS
    items: list[tuple[Any, Any]]
    if isinstance(value, _Pairs):
        items = list(value)
    elif value == {}:
        items = []  # pyhcl's empty object
    elif isinstance(value, list) and all(isinstance(v, _Pairs) for v in value):
        # HCL allows the block to be written as a list of objects ([{ "a" = [] }]); read it as one map.
        items = [item for part in value for item in part]
    else:
        raise PolicyError(
            f'{label}: {key} must be a map of parameter name to a list of values, e.g. {{ "ttl" = [] }}'
        )
    parameters: dict[str, tuple] = {}
    for name, values in items:
        if not isinstance(name, str):
            raise PolicyError(f"{label}: {key} names must be strings")
        if not isinstance(values, list):
            raise PolicyError(f'{label}: {key} "{name}" must be a list of values ([] means any value)')
        lowered = name.lower()
        if lowered in parameters:
            # Two entries differing only in case would otherwise silently replace each other.
            raise PolicyError(f'{label}: {key} has "{name}" more than once (names are case-insensitive)')
        parameters[lowered] = tuple(_plain_value(v) for v in values)
    return MappingProxyType(parameters)


def _plain_value(value: Any) -> Any:
    """Turn parsed _Pairs/lists into plain dicts and tuples for comparison with request data."""
    if isinstance(value, _Pairs):
        return {k: _plain_value(v) for k, v in value}
    if isinstance(value, list):
        return tuple(_plain_value(v) for v in value)
    return value


def _required_parameters(value: Any, label: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{label}: required_parameters must be a list of parameter names")
    return tuple(dict.fromkeys(v.lower() for v in value))


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(value: Any, key: str, label: str) -> int:
    """Seconds from an int or a duration string ("90", "90s", "5m", "1h30m", "2d")."""
    if isinstance(value, bool):
        raise PolicyError(f'{label}: {key} must be a number of seconds or a duration such as "1h"')
    if isinstance(value, int | float):
        seconds = value
    elif isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d+", text):
            seconds = int(text)
        elif text and _DURATION_PART.sub("", text) == "":
            seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))
        else:
            raise PolicyError(
                f'{label}: {key}: invalid duration "{value}" (use seconds or a form like "90s", "5m", "1h")'
            )
    else:
        raise PolicyError(f'{label}: {key} must be a number of seconds or a duration such as "1h"')
    if seconds < 0:
        raise PolicyError(f"{label}: {key} must not be negative")
    return int(seconds)


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), sorted(choices), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


__all__ = [
    "CAPABILITIES",
    "MAX_PATH_BLOCKS",
    "MAX_PATTERN_CHARS",
    "MAX_POLICY_BYTES",
    "PathRule",
    "Policy",
    "PolicyError",
    "merge_rules",
    "normalize_policy_name",
    "parse_policy",
]
