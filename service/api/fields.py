"""Request field schemas with Vault's lenient type coercion and strict, named errors.

Vault accepts `"true"` for booleans, comma-separated strings or JSON-array strings for lists, and ignores
unknown parameters with a warning. Each rule lives here once; every error names the field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vaultguard.rules.names import canonical_policy_names
from vaultguard.rules.oauth import normalize_issuer

from ..errors import ApiError, FieldPath

MAX_STRING = 65_536
MAX_LIST = 1_000
MAX_INT = 2**31 - 1  # the storage columns for integer fields are 32-bit
MAX_DURATION = 100 * 365 * 86400  # 100 years; anything longer is a mistake, and would overflow storage


@dataclass(frozen=True)
class Field:
    kind: str  # "string" | "bool" | "int" | "strings" | "policies" | "issuer" | "map" | "objects" | "duration"
    max_length: int = 2048

    def schema(self) -> dict[str, Any]:
        """The JSON schema of this field's canonical form (the OpenAPI document shows it); `parse` also takes
        Vault's lenient spellings, which the descriptions mention. Types and limits come from this Field."""
        text = {"type": "string", "maxLength": self.max_length}
        listed = {"type": "array", "items": text, "maxItems": MAX_LIST}
        return {
            "string": text,
            "issuer": {**text, "description": "stored normalized (DECISIONS.md#d19)"},
            "bool": {"type": "boolean", "description": 'also "true"/"false", "1"/"0", "t"/"f"'},
            "int": {"type": "integer", "minimum": -MAX_INT, "maximum": MAX_INT},
            "duration": {
                "anyOf": [
                    {"type": "integer", "minimum": 0, "maximum": MAX_DURATION},
                    {"type": "string", "pattern": "^([0-9]+|([0-9]+[smhd])+)$", "description": 'e.g. "90s", "1h30m"'},
                ]
            },
            "strings": {"anyOf": [listed, {"type": "string", "description": "comma-separated, or a JSON array"}]},
            "policies": {"anyOf": [listed, {"type": "string", "description": "comma-separated, or a JSON array"}]},
            "map": {
                "type": "object",
                "additionalProperties": {"type": "string", "maxLength": 4096},
                "maxProperties": MAX_LIST,
            },
            "objects": {"type": "array", "items": {"type": "object"}, "maxItems": MAX_LIST},
        }[self.kind]


@dataclass(frozen=True)
class Body:
    """A route's request body: the fields `parse` coerces (via `Context.authorize_body`), and the fields a
    domain module validates itself (`checked_elsewhere`: name → the JSON schema that module enforces). The
    route validates with it and its declaration (api/operations.py) describes it, so the two cannot drift."""

    fields: Mapping[str, Field]
    checked_elsewhere: Mapping[str, dict[str, Any]] = field(default_factory=dict)

    def parse(self, body: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        return parse(body, self.fields)

    def schema(self) -> dict[str, Any]:
        """An object; unknown keys are allowed (ignored with a warning, as in Vault)."""
        properties = {name: spec.schema() for name, spec in self.fields.items()}
        return {"type": "object", "properties": {**properties, **self.checked_elsewhere}}


def _str(name: str, value: Any, spec: Field, path: FieldPath | None = None) -> str:
    path = path or (name,)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _invalid(path, name, f"expected a string, got {_kind(value)}")
    text = value if isinstance(value, str) else json.dumps(value)
    if len(text) > spec.max_length:
        raise _invalid(path, name, f"longer than {spec.max_length} characters")
    if "\x00" in text:
        raise _invalid(path, name, "must not contain NUL characters")
    if not _encodable(text):  # an unpaired surrogate ("\ud800") can be neither stored nor sent back
        raise _invalid(path, name, "must be valid Unicode text (no unpaired surrogates)")
    return text


def _bool(name: str, value: Any) -> bool:
    path = (name,)
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "t"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "0", "f", ""):
        return False
    raise _invalid(path, name, f"expected a boolean (true/false), got {_show(value)}")


def _int(name: str, value: Any) -> int:
    path = (name,)
    if isinstance(value, bool):
        raise _invalid(path, name, "expected an integer, got a boolean")
    number: int | None = None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            pass
    if number is None:
        raise _invalid(path, name, f"expected an integer, got {_show(value)}")
    if abs(number) > MAX_INT:
        raise _invalid(path, name, f"must be between {-MAX_INT} and {MAX_INT}")
    return number


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(name: str, value: Any) -> int:
    """Seconds from an int or a Go-style duration string ("90s", "1h30m", "20m")."""
    path = (name,)
    if isinstance(value, float) and not math.isfinite(value):
        raise _invalid(path, name, f"invalid duration {_show(value)}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            seconds = int(text)
        else:
            seconds, number = 0, ""
            for ch in text:
                if ch.isdigit():
                    number += ch
                elif ch in _UNITS and number:
                    seconds += int(number) * _UNITS[ch]
                    number = ""
                else:
                    raise _invalid(path, name, f"invalid duration {_show(value)}")
            if number or not text:
                raise _invalid(path, name, f"invalid duration {_show(value)}")
    else:
        raise _invalid(path, name, f"expected a duration, got {_kind(value)}")
    if seconds < 0:
        raise _invalid(path, name, "must not be negative")
    if seconds > MAX_DURATION:
        raise _invalid(path, name, "longer than 100 years")
    return seconds


def _strings(name: str, value: Any, spec: Field) -> list[str]:
    path = (name,)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError as exc:
                raise _invalid(path, name, f"invalid JSON list: {exc.msg}") from None
            except RecursionError:
                raise _invalid(path, name, "invalid JSON list: nesting too deep") from None
        else:
            value = [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(value, list):
        raise _invalid(path, name, f"expected a list of strings, got {_kind(value)}")
    if len(value) > MAX_LIST:
        raise _invalid(path, name, f"more than {MAX_LIST} entries")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise _invalid((*path, i), f"{name}[{i}]", f"expected a string, got {_kind(item)}")
        out.append(_str(f"{name}[{i}]", item, spec, (*path, i)))
    return out


def _map(name: str, value: Any) -> dict[str, str]:
    path = (name,)
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except (ValueError, RecursionError):
            raise _invalid(path, name, "expected a map of strings") from None
    if not isinstance(value, dict):
        raise _invalid(path, name, f"expected a map of strings, got {_kind(value)}")
    if len(value) > MAX_LIST:
        raise _invalid(path, name, f"more than {MAX_LIST} entries")
    out = {}
    for key, item in value.items():
        if not isinstance(item, str):
            raise _invalid((*path, key), f"{name}.{key}", f"expected a string, got {_kind(item)}")
        text = _str(f"{name}.{key}", item, Field("string", 4096), (*path, key))
        out[_str(f"{name} key", key, Field("string", 512), path)] = text
    return out


def _objects(name: str, value: Any) -> list[dict]:
    path = (name,)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise _invalid(path, name, "expected a list of objects") from None
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _invalid(path, name, f"expected a list of objects, got {_kind(value)}")
    if len(value) > MAX_LIST:
        raise _invalid(path, name, f"more than {MAX_LIST} entries")
    for i, item in enumerate(value):
        for key, text in item.items():
            if isinstance(text, str) and not _encodable(text):
                where = f"{name}[{i}].{key}"
                raise _invalid((*path, i, key), where, "must be valid Unicode text (no unpaired surrogates)")
    return value


def _invalid(path: FieldPath, label: str, text: str) -> ApiError:
    """The 400 for one field: `field "<label>": <text>`, with the field's path as data."""
    return ApiError(400, f'field "{label}": {text}', fields=[path])


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse(body: Mapping[str, Any], schema: Mapping[str, Field]) -> tuple[dict[str, Any], list[str]]:
    """Coerce the fields present in `body`; returns (values, warnings). Absent fields stay absent."""
    values: dict[str, Any] = {}
    for name, spec in schema.items():
        if name not in body or body[name] is None:
            continue
        raw = body[name]
        if spec.kind == "string":
            values[name] = _str(name, raw, spec)
        elif spec.kind == "bool":
            values[name] = _bool(name, raw)
        elif spec.kind == "int":
            values[name] = _int(name, raw)
        elif spec.kind == "duration":
            values[name] = parse_duration(name, raw)
        elif spec.kind == "strings":
            values[name] = _strings(name, raw, spec)
        elif spec.kind == "policies":  # policy names as stored: the ACL's parameter check sees these
            values[name] = canonical_policy_names(_strings(name, raw, spec))
        elif spec.kind == "issuer":  # an issuer as stored (DECISIONS.md#d19): the ACL's parameter check sees it
            text = _str(name, raw, spec)
            # One ending in "//" has no stored form (the route refuses it); normalizing it would hide that.
            values[name] = text if text.endswith("//") else normalize_issuer(text)
        elif spec.kind == "map":
            values[name] = _map(name, raw)
        elif spec.kind == "objects":
            values[name] = _objects(name, raw)
        else:  # pragma: no cover - schema bug
            raise AssertionError(spec.kind)
    unknown = sorted(k for k in body if k not in schema)
    warnings = [f"Endpoint ignored these unrecognized parameters: [{' '.join(unknown)}]"] if unknown else []
    return values, warnings


def _kind(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 64 else text[:61] + "..."
