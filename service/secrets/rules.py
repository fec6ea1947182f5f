"""KV version 2 rules: input validation, check-and-set, versions, soft delete/undelete/destroy, pruning.

Plain functions on the dataclasses of `model`; nothing here touches HTTP or storage. Operations return a
`Change` the repository persists in the caller's transaction. Errors are `KVError` (a 4xx with a message
naming the field and the rule) or `KVNotFound` (a 404, carrying the body Vault sends for deleted versions).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from vaultguard.rules.names import has_control_characters

from .model import (
    DEFAULT_MAX_VERSIONS,
    DELETE_VERSION_AFTER_DISABLED,
    Change,
    EngineConfig,
    SecretKey,
    VersionInfo,
)

MAX_PATH_BYTES = 1024  # UTF-8 bytes of a key's path below the mount
MAX_DATA_BYTES = 1024 * 1024  # one version's data, JSON-encoded
MAX_DATA_DEPTH = 100  # nesting levels of objects and arrays in one version's data
MAX_MAX_VERSIONS = 1000  # upper bound of max_versions (engine and key)
MAX_VERSION_NUMBER = 2**31 - 1  # storage columns are 32-bit
MAX_VERSIONS_PER_REQUEST = 1000  # entries of a delete/undelete/destroy `versions` list
MAX_SUBKEYS_DEPTH = 100
CUSTOM_METADATA_MAX_KEYS = 64  # Vault's limits on custom_metadata
CUSTOM_METADATA_MAX_KEY_BYTES = 128
CUSTOM_METADATA_MAX_VALUE_BYTES = 512

_INTEGER_TEXT = re.compile(r"-?[0-9]{1,19}")

CAS_MISMATCH = "check-and-set parameter did not match the current version"
CAS_REQUIRED = "check-and-set parameter required for this call"
CAS_FIELD = ("options", "cas")  # Vault's check-and-set messages name no field; the error body's field_errors does


class KVError(ValueError):
    """Bad input or a refused write; `status` is the HTTP status (400 unless said otherwise); `field`, the
    request field it is about when Vault's own message does not name it."""

    def __init__(self, message: str, status: int = 400, field: tuple[str, ...] | None = None):
        super().__init__(message)
        self.status = status
        self.field = field


class KVNotFound(LookupError):
    """No such key or version (404); `body` is the response `data` Vault still sends, if any."""

    def __init__(self, body: dict[str, Any] | None = None):
        super().__init__("not found")
        self.body = body


# -- paths --------------------------------------------------------------------------------------------------


def path_problem(path: str) -> str | None:
    """Why `path` cannot name a secret, or None. Rules: not empty, no leading or trailing "/", no empty,
    "." or ".." segments, no control characters, valid Unicode, at most MAX_PATH_BYTES."""
    if not path:
        return "missing path"
    if path.endswith("/"):
        return f'path {_show(path)}: a secret path must not end with "/"'
    return _segments_problem(path)


def check_path(path: str) -> str:
    problem = path_problem(path)
    if problem is not None:
        raise KVError(problem)
    return path


def list_prefix(path: str) -> str:
    """The folder a LIST names: "" for the mount's root, otherwise the path with one trailing "/"."""
    if not path or path == "/":
        return ""
    folder = path if path.endswith("/") else path + "/"
    problem = _segments_problem(folder[:-1])
    if problem is not None:
        raise KVError(problem)
    return folder


def _segments_problem(path: str) -> str | None:
    # Every secret read checks its path: the checks run in C (encode, a regular expression, split), and the
    # path is rendered for a message only when there is one.
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError:
        return f"path {_show(path)}: must be valid Unicode text"
    if size > MAX_PATH_BYTES:
        return f"path {_show(path)}: longer than {MAX_PATH_BYTES} bytes"
    if has_control_characters(path):
        return f"path {_show(path)}: must not contain control characters"
    for segment in path.split("/"):
        if segment == "":
            return f'path {_show(path)}: empty path segments (a leading "/" or "//") are not allowed'
        if segment in (".", ".."):
            return f"path {_show(path)}: '.' and '..' segments are not allowed"
    return None


# -- data ---------------------------------------------------------------------------------------------------


def encode_data(value: Any, name: str = "data") -> str:
    """A version's data as stored: a JSON object, finite numbers, valid Unicode, bounded depth and size.

    Keys are sorted, as Vault's encoder does, so a read returns them in a stable order."""
    if value is None:
        raise KVError(f'field "{name}": no data provided; a JSON object is required')
    if not isinstance(value, dict):
        raise KVError(f'field "{name}": expected a JSON object, got {_kind(value)}')
    if _too_deep(value, MAX_DATA_DEPTH):
        raise KVError(f'field "{name}": nested deeper than {MAX_DATA_DEPTH} levels')
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"))
    except ValueError:
        raise KVError(f'field "{name}": numbers must be finite (no NaN or Infinity)') from None
    except RecursionError:  # pragma: no cover - _too_deep stops this first
        raise KVError(f'field "{name}": nested too deeply') from None
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise KVError(f'field "{name}": must be valid Unicode text (no unpaired surrogates)') from None
    if size > MAX_DATA_BYTES:
        raise KVError(f'field "{name}": {size} bytes once encoded; the limit is {MAX_DATA_BYTES} bytes', 413)
    return text


def decode_data(text: str) -> dict[str, Any]:
    return json.loads(text)


def _too_deep(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge key by key, `null` removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def subkeys(data: Mapping[str, Any], depth: int = 0) -> dict[str, Any]:
    """The data's key structure with every value replaced by null; `depth` > 0 stops at that level."""
    limit = MAX_SUBKEYS_DEPTH if depth <= 0 else min(depth, MAX_SUBKEYS_DEPTH)

    def walk(node: Mapping[str, Any], level: int) -> dict[str, Any]:
        return {
            key: walk(value, level + 1) if isinstance(value, dict) and value and level < limit else None
            for key, value in node.items()
        }

    return walk(data, 1)


# -- fields -------------------------------------------------------------------------------------------------


def parse_cas(options: Any) -> int | None:
    """`options.cas` of a write: None when absent; otherwise the version the writer expects to replace."""
    if options is None:
        return None
    if not isinstance(options, dict):
        raise KVError(f'field "options": expected a JSON object, got {_kind(options)}')
    raw = options.get("cas")
    if raw is None:
        return None
    return parse_integer("options.cas", raw, minimum=0, maximum=MAX_VERSION_NUMBER)


def parse_version(raw: Any) -> int:
    """The `version` of a read; 0 (or absent) means the current version."""
    if raw is None or raw == "":
        return 0
    return parse_integer("version", raw, minimum=0, maximum=MAX_VERSION_NUMBER)


def parse_versions(raw: Any) -> list[int]:
    """The `versions` of delete/undelete/destroy: a list of version numbers or a comma-separated string."""
    items: list[Any]
    if isinstance(raw, str):
        items = [part.strip() for part in raw.split(",") if part.strip()]
    elif isinstance(raw, list):
        items = raw
    elif raw is None:
        items = []
    else:
        items = [raw]
    if not items:
        raise KVError('field "versions": no version number provided')
    if len(items) > MAX_VERSIONS_PER_REQUEST:
        raise KVError(f'field "versions": more than {MAX_VERSIONS_PER_REQUEST} entries')
    numbers: dict[int, None] = {}
    for i, item in enumerate(items):
        numbers.setdefault(parse_integer(f"versions[{i}]", item, minimum=1, maximum=MAX_VERSION_NUMBER), None)
    return list(numbers)


def parse_integer(name: str, raw: Any, *, minimum: int, maximum: int) -> int:
    number: int | None = None
    if isinstance(raw, bool):
        number = None
    elif isinstance(raw, int):
        number = raw
    elif isinstance(raw, float) and raw.is_integer():
        number = int(raw)
    elif isinstance(raw, str) and _INTEGER_TEXT.fullmatch(raw.strip()):
        number = int(raw.strip())
    if number is None:
        raise KVError(f'field "{name}": expected an integer, got {_show(raw)}')
    if not minimum <= number <= maximum:
        raise KVError(f'field "{name}": must be between {minimum} and {maximum}, got {number}')
    return number


def check_max_versions(value: int) -> int:
    if not 0 <= value <= MAX_MAX_VERSIONS:
        raise KVError(f'field "max_versions": must be between 0 and {MAX_MAX_VERSIONS}, got {value}')
    return value


def parse_custom_metadata(raw: Any, *, patch: bool = False) -> dict[str, str | None]:
    """custom_metadata with Vault's limits: at most 64 keys; keys 1–128 bytes, values 1–512 bytes, printable.

    In a patch a null value means "remove this key" and is kept as None."""
    if not isinstance(raw, dict):
        raise KVError(f'field "custom_metadata": expected a JSON object of strings, got {_kind(raw)}')
    if len(raw) > CUSTOM_METADATA_MAX_KEYS:
        raise KVError(f'field "custom_metadata": at most {CUSTOM_METADATA_MAX_KEYS} keys are allowed, got {len(raw)}')
    out: dict[str, str | None] = {}
    for key, value in raw.items():
        _check_metadata_text(f'field "custom_metadata": key {_show(key)}', key, CUSTOM_METADATA_MAX_KEY_BYTES)
        where = f'field "custom_metadata.{key}"'
        if value is None and patch:
            out[key] = None
            continue
        if not isinstance(value, str):
            raise KVError(f"{where}: expected a string, got {_kind(value)}")
        _check_metadata_text(where, value, CUSTOM_METADATA_MAX_VALUE_BYTES)
        out[key] = value
    return out


def _check_metadata_text(where: str, text: str, limit: int) -> None:
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise KVError(f"{where}: must be valid Unicode text") from None
    if not 0 < size <= limit:
        raise KVError(f"{where}: must be 1 to {limit} bytes long, got {size}")
    if not text.isprintable():
        raise KVError(f"{where}: must not contain unprintable characters")


# -- engine configuration -----------------------------------------------------------------------------------


def configure(config: EngineConfig, values: Mapping[str, Any]) -> EngineConfig:
    """Apply the fields present; a negative delete_version_after disables it on every key, 0 clears it."""
    if "max_versions" in values:
        config.max_versions = check_max_versions(values["max_versions"])
    if "cas_required" in values:
        config.cas_required = bool(values["cas_required"])
    if "delete_version_after" in values:
        seconds = values["delete_version_after"]
        config.delete_version_after = DELETE_VERSION_AFTER_DISABLED if seconds < 0 else seconds
    return config


def effective_max_versions(key: SecretKey, config: EngineConfig) -> int:
    """Versions a key keeps: the larger of the key's and the engine's setting (Vault's rule), else 10."""
    return max(key.max_versions, config.max_versions) or DEFAULT_MAX_VERSIONS


def deletion_time_for(start: int, key: SecretKey, config: EngineConfig) -> int | None:
    """When a version written (or undeleted) at `start` is deleted: the shortest non-zero delete_version_after
    of key and engine, unless the engine disables it."""
    if config.delete_version_after == DELETE_VERSION_AFTER_DISABLED:
        return None
    periods = [s for s in (config.delete_version_after, key.delete_version_after) if s > 0]
    return start + min(periods) * 1_000_000 if periods else None


# -- versions -----------------------------------------------------------------------------------------------


def check_cas(key: SecretKey | None, config: EngineConfig, cas: int | None) -> None:
    """Check-and-set: `cas` must equal the current version (0 for a key that does not exist yet); it is
    mandatory when the engine or the key requires it."""
    current = key.current_version if key is not None else 0
    if cas is not None:
        if cas != current:
            raise KVError(CAS_MISMATCH, field=CAS_FIELD)
    elif config.cas_required or (key is not None and key.cas_required):
        raise KVError(CAS_REQUIRED, field=CAS_FIELD)


def write_version(key: SecretKey | None, path: str, config: EngineConfig, cas: int | None, now: int) -> Change:
    """Add the next version (its data is stored by the caller) and prune the oldest beyond max_versions."""
    check_cas(key, config, cas)
    new_key = key is None
    if key is None:
        key = SecretKey(path=path, created_time=now)
    number = key.current_version + 1
    if number > MAX_VERSION_NUMBER:
        raise KVError(f"path {_show(path)}: the maximum version number has been reached")
    version = VersionInfo(number=number, created_time=now, deletion_time=deletion_time_for(now, key, config))
    key.current_version = number
    key.versions[number] = version
    key.updated_time = now
    if not key.created_time:
        key.created_time = now
    pruned: list[int] = []
    keep = effective_max_versions(key, config)
    if key.current_version - key.oldest_version >= keep:
        cutoff = key.current_version - keep
        pruned = sorted(n for n in key.versions if n <= cutoff)
        for n in pruned:
            del key.versions[n]
        key.oldest_version = cutoff + 1
    return Change(key=key, new_key=new_key, added=version, pruned=pruned)


def read_result(key: SecretKey, version: VersionInfo | None, data: str | None, now: int) -> dict[str, Any]:
    """`data` of a read: the version's data and metadata. A deleted or destroyed version is a 404 that still
    carries the metadata (clients look at deletion_time); a missing one is a bare 404."""
    if version is None:
        raise KVNotFound()
    body: dict[str, Any] = {"data": None, "metadata": key.version_metadata(version)}
    if not version.is_live(now) or data is None:
        raise KVNotFound(body)
    body["data"] = decode_data(data)
    return body


def subkeys_result(key: SecretKey, version: VersionInfo | None, data: str | None, now: int, depth: int):  # noqa: ANN201
    """`data` of a subkeys read; the same 404 rules as a data read."""
    if version is None:
        raise KVNotFound()
    body: dict[str, Any] = {"subkeys": None, "metadata": key.version_metadata(version)}
    if not version.is_live(now) or data is None:
        raise KVNotFound(body)
    body["subkeys"] = subkeys(decode_data(data), depth)
    return body


def patch_target(key: SecretKey | None, config: EngineConfig, cas: int | None, now: int) -> VersionInfo:
    """The version a PATCH merges into: the current one, which must exist and be live."""
    if key is None:
        raise KVNotFound()
    check_cas(key, config, cas)
    current = key.versions.get(key.current_version)
    if current is None:
        raise KVNotFound()
    if not current.is_live(now):
        raise KVNotFound(key.version_metadata(current))
    return current


def soft_delete_latest(key: SecretKey, now: int) -> Change:
    """DELETE data/:path marks the current version deleted (no-op when it already is, or is destroyed)."""
    return delete_versions(key, [key.current_version], now)


def delete_versions(key: SecretKey, numbers: Iterable[int], now: int) -> Change:
    change = Change(key=key)
    for number in numbers:
        version = key.versions.get(number)
        if version is None or version.destroyed or version.is_deleted(now):
            continue
        version.deletion_time = now
        change.updated.append(version)
    return change


def undelete_versions(key: SecretKey, numbers: Iterable[int], config: EngineConfig, now: int) -> Change:
    """Restore versions that are not destroyed; delete_version_after starts again from now."""
    change = Change(key=key)
    for number in numbers:
        version = key.versions.get(number)
        if version is None or version.destroyed:
            continue
        deletion_time = deletion_time_for(now, key, config)
        if version.deletion_time != deletion_time:
            version.deletion_time = deletion_time
            change.updated.append(version)
    return change


def destroy_versions(key: SecretKey, numbers: Iterable[int]) -> Change:
    """Destroy versions for good: the data goes, the bookkeeping stays (`destroyed: true`)."""
    change = Change(key=key)
    for number in numbers:
        version = key.versions.get(number)
        if version is None or version.destroyed:
            continue
        version.destroyed = True
        change.updated.append(version)
    return change


# -- metadata -----------------------------------------------------------------------------------------------

_METADATA_DEFAULTS: dict[str, Any] = {
    "max_versions": 0,
    "cas_required": False,
    "delete_version_after": 0,
    "custom_metadata": None,
}


def write_metadata(key: SecretKey | None, path: str, values: Mapping[str, Any], now: int) -> Change:
    """POST metadata/:path: set the fields present; creates the key's metadata when it has none yet."""
    new_key = key is None
    if key is None:
        key = SecretKey(path=path, created_time=now, updated_time=now)
    _set_metadata(key, values)
    if "custom_metadata" in values:
        key.custom_metadata = dict(values["custom_metadata"])
    return Change(key=key, new_key=new_key)


def patch_metadata(key: SecretKey | None, values: Mapping[str, Any]) -> Change:
    """PATCH metadata/:path: merge-patch of an existing key's settings; null resets a field, and in
    custom_metadata removes that entry."""
    if key is None:
        raise KVNotFound()
    _set_metadata(key, values)
    if "custom_metadata" in values:
        patch = values["custom_metadata"]
        if patch is None:
            key.custom_metadata = None
        else:
            merged = merge_patch(key.custom_metadata or {}, patch)
            if len(merged) > CUSTOM_METADATA_MAX_KEYS:
                raise KVError(
                    f'field "custom_metadata": at most {CUSTOM_METADATA_MAX_KEYS} keys are allowed, '
                    f"the patch would leave {len(merged)}"
                )
            key.custom_metadata = merged
    return Change(key=key)


def _set_metadata(key: SecretKey, values: Mapping[str, Any]) -> None:
    for name in ("max_versions", "cas_required", "delete_version_after"):
        if name in values:
            value = values[name]
            setattr(key, name, _METADATA_DEFAULTS[name] if value is None else value)
    if values.get("max_versions") is not None:
        check_max_versions(key.max_versions)
    if key.delete_version_after < 0:
        raise KVError('field "delete_version_after": must not be negative')


# -- listing ------------------------------------------------------------------------------------------------


def list_children(paths: Iterable[str], prefix: str) -> list[str]:
    """Immediate children of folder `prefix`: keys by name, sub-folders with a trailing "/"."""
    children: set[str] = set()
    for path in paths:
        if not path.startswith(prefix):
            continue
        rest = path[len(prefix) :]
        head, slash, _ = rest.partition("/")
        if head:
            children.add(head + slash)
    return sorted(children)


# -- messages -----------------------------------------------------------------------------------------------


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
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 64 else text[:61] + "..."
