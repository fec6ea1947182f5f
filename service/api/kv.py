"""`secret/...` routes: the KV version 2 engine every namespace has (no inheritance between namespaces).

Each route authorizes first, on the Vault path and with the operation Vault would use (a write to
`data/` or `metadata/` is `create` when the key has no metadata yet, `update` otherwise), then judges
its input, then calls `secrets.rules` inside one storage transaction. Writes and patches of `data/` and
`metadata/` are authorized with the values they store, so parameter constraints see what is stored
(DECISIONS.md#d43).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response

from ..errors import ApiError, bad_request, not_found, unsupported_operation
from ..secrets import rules
from ..secrets.model import now_micros
from ..storage.kv import SecretsRepository, read_version
from ..storage.sealing import SealError
from ..storage.store import Tx, UniqueViolation
from . import fields as f
from .deps import Context, context
from .envelope import list_response, respond
from .operations import DELETE, LIST_ALSO, LISTS, NO_FIELDS, NO_FIELDS_WRITE, READ, Operation, Query, route

router = APIRouter()

T = TypeVar("T")

SETTINGS_FIELDS = {
    "max_versions": f.Field("int"),
    "cas_required": f.Field("bool"),
    "delete_version_after": f.Field("duration"),
}
MERGE_PATCH = "application/merge-patch+json"

# The request declarations (api/operations.py). Fields that secrets/rules.py checks carry the schema of its rule.
_MAX_VERSIONS = {"type": "integer", "minimum": 0, "maximum": rules.MAX_MAX_VERSIONS}  # rules.check_max_versions
_VERSION_NUMBER = {"type": "integer", "minimum": 0, "maximum": rules.MAX_VERSION_NUMBER}  # rules.parse_integer
_CUSTOM_METADATA = {  # rules.parse_custom_metadata
    "type": "object",
    "maxProperties": rules.CUSTOM_METADATA_MAX_KEYS,
    "additionalProperties": {"type": "string", "maxLength": rules.CUSTOM_METADATA_MAX_VALUE_BYTES},
}
CONFIG = f.Body(
    {},  # the route coerces the settings itself (`_settings`): delete_version_after may be negative here
    checked_elsewhere={
        "max_versions": _MAX_VERSIONS,
        "cas_required": SETTINGS_FIELDS["cas_required"].schema(),
        "delete_version_after": {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "description": "a duration; negative disables deletion (_signed_duration)",
        },
    },
)
METADATA = f.Body(
    SETTINGS_FIELDS, checked_elsewhere={"max_versions": _MAX_VERSIONS, "custom_metadata": _CUSTOM_METADATA}
)
DATA = f.Body(
    {},
    checked_elsewhere={  # rules.encode_data, rules.parse_cas
        "data": {"type": "object", "description": f"at most {rules.MAX_DATA_BYTES} bytes once encoded"},
        "options": {"type": "object", "properties": {"cas": _VERSION_NUMBER}},
    },
)
VERSIONS = f.Body(
    {},
    checked_elsewhere={  # rules.parse_versions
        "versions": {
            "anyOf": [
                {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 1, "maximum": rules.MAX_VERSION_NUMBER},
                    "minItems": 1,
                    "maxItems": rules.MAX_VERSIONS_PER_REQUEST,
                },
                {"type": "string", "description": "comma-separated version numbers"},
            ]
        }
    },
)
VERSION = Query("version", _VERSION_NUMBER, "the version to read; 0 or absent: the current one")
DEPTH = Query("depth", {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}, "levels of keys; 0: all")
WRITE_CONFIG, WRITE_DATA, WRITE_METADATA, WRITE_VERSIONS = (
    Operation(body=CONFIG),
    Operation(body=DATA),
    Operation(body=METADATA),
    Operation(body=VERSIONS),
)
PATCH_DATA = Operation(body=DATA, body_type=MERGE_PATCH)
PATCH_METADATA = Operation(body=METADATA, body_type=MERGE_PATCH)


# -- shared steps -------------------------------------------------------------------------------------------


async def _context(request: Request, *, lists: bool = False) -> Context:
    ctx = await context(request)
    if ctx.is_list and not lists:
        raise unsupported_operation()
    return ctx


@contextmanager
def _as_api_errors() -> Iterator[None]:
    """Domain input errors become the HTTP error they name; a stored value that does not open (altered, or
    moved from another row) is a 500 that serves nothing."""
    try:
        yield
    except rules.KVError as exc:
        raise ApiError(exc.status, str(exc), fields=[exc.field]) from None
    except SealError as exc:
        raise ApiError(500, str(exc)) from None


def _read_version(ctx: Context, path: str, number: int) -> tuple | None:
    """storage.kv.read_version in the commit epoch this request's check ended in (identify, in `context`)."""
    return read_version(ctx.store, ctx.namespace.id, path, number, ctx.request.app.state.directory.commit_epoch)


def _gone(exc: rules.KVNotFound) -> Response:
    """404: bare for a missing key or version; with the version's metadata when it was deleted or destroyed,
    as Vault answers (clients read `deletion_time` from it)."""
    if exc.body is None:
        raise not_found()
    return respond(exc.body, status=404)


def _write(ctx: Context, action: Callable[[SecretsRepository], T]) -> T:
    """Run `action` in one write transaction. Two first writes of one key race to insert it; the loser runs
    once more, now seeing (and locking) the winner's key, so cas and create/update are judged against it."""

    def act(tx: Tx) -> T:
        with _as_api_errors():
            return action(SecretsRepository(tx))

    try:
        return ctx.store.write_retrying(act)
    except UniqueViolation:
        raise bad_request("a concurrent write to this secret won; retry") from None


def _key_exists(ctx: Context, path: str) -> bool:
    """Vault's existence check for data/ and metadata/ writes: the key has metadata."""
    if rules.path_problem(path) is not None:
        return False  # cannot exist; the path is refused once authorization has passed
    with ctx.store.read() as tx:
        return SecretsRepository(tx).key_exists(ctx.namespace.id, path)


def _write_operation(exists: bool) -> str:
    return "update" if exists else "create"


def _recheck(ctx: Context, checked_exists: bool, key: Any, parameters: dict | None = None) -> None:
    """The key appeared or vanished between the existence check and the write: authorize what it now is."""
    if (key is not None) != checked_exists:
        ctx.authorize(_write_operation(key is not None), parameters)


def _authorize_metadata(ctx: Context, operation: str, body: dict[str, Any], *, patch: bool = False) -> dict[str, Any]:
    """The settings and custom_metadata a metadata write stores (a merge patch: with null for what it resets),
    authorized with exactly those values, so parameter constraints see `"5"` as the 5 stored."""

    def stored(values: dict[str, Any]) -> None:
        with _as_api_errors():
            if "max_versions" in values:
                rules.check_max_versions(values["max_versions"])
            if body.get("custom_metadata") is not None:
                values["custom_metadata"] = rules.parse_custom_metadata(body["custom_metadata"], patch=patch)
        if patch:
            values.update({name: None for name in (*SETTINGS_FIELDS, "custom_metadata") if body.get(name, 0) is None})

    values, _warnings = ctx.authorize_body(operation, body, METADATA, stored)
    return values


def _unknown(body: dict[str, Any], known: tuple[str, ...]) -> list[str]:
    unknown = sorted(k for k in body if k not in known)
    return [f"Endpoint ignored these unrecognized parameters: [{' '.join(unknown)}]"] if unknown else []


def _require_merge_patch(request: Request) -> None:
    given = request.headers.get("content-type", "")
    if given.split(";")[0].strip().lower() != MERGE_PATCH:
        raise ApiError(415, f'PATCH requires Content-Type {MERGE_PATCH}, got "{given}"')


def _signed_duration(name: str, raw: Any) -> int:
    """A duration where a negative value has a meaning (engine config: disable delete_version_after)."""
    if isinstance(raw, str) and raw.strip().startswith("-"):
        return -f.parse_duration(name, raw.strip()[1:])
    if isinstance(raw, (int, float)) and not isinstance(raw, bool) and raw < 0:
        return -1
    return f.parse_duration(name, raw)


def _settings(body: dict[str, Any], *, signed_duration: bool = False) -> dict[str, Any]:
    """max_versions, cas_required, delete_version_after as present in the body (null = absent)."""
    present = {k: v for k, v in body.items() if k in SETTINGS_FIELDS and v is not None}
    if signed_duration and "delete_version_after" in present:
        seconds = _signed_duration("delete_version_after", present.pop("delete_version_after"))
        values, _ = f.parse(present, SETTINGS_FIELDS)
        values["delete_version_after"] = seconds
    else:
        values, _ = f.parse(present, SETTINGS_FIELDS)
    if "max_versions" in values:
        with _as_api_errors():
            rules.check_max_versions(values["max_versions"])
    return values


# -- config -------------------------------------------------------------------------------------------------


@route(router, "/v1/secret/config", GET=READ)
async def read_config(request: Request) -> Response:
    ctx = await _context(request)
    ctx.authorize("read")
    with ctx.store.read() as tx:
        config = SecretsRepository(tx).config(ctx.namespace.id)
    return respond(config.to_api())


@route(router, "/v1/secret/config", POST=WRITE_CONFIG, PUT=WRITE_CONFIG)
async def write_config(request: Request) -> Response:
    ctx = await _context(request)
    body = await ctx.body()

    def stored(values: dict[str, Any]) -> None:  # the settings as stored: parameter constraints see them
        values.update(_settings(body, signed_duration=True))

    values = ctx.authorize_body("update", body, CONFIG, stored)[0]
    warnings = _unknown(body, tuple(SETTINGS_FIELDS))
    if values:

        def action(repo: SecretsRepository) -> None:
            repo.put_config(ctx.namespace.id, rules.configure(repo.config(ctx.namespace.id), values))

        _write(ctx, action)
    return respond(warnings=warnings)


# -- data ---------------------------------------------------------------------------------------------------


@route(router, "/v1/secret/data/{path:path}", GET=Operation(query=(VERSION,)))
async def read_data(path: str, request: Request) -> Response:
    ctx = await _context(request)
    ctx.authorize("read")
    with _as_api_errors():
        rules.check_path(path)
        # (most reads name no version; parsing an empty query string is skipped on this hot path)
        number = rules.parse_version(request.query_params.get("version") if request.scope["query_string"] else None)
        found = _read_version(ctx, path, number)
    if found is None:
        raise not_found()
    try:
        return respond(rules.read_result(*found, now_micros()))
    except rules.KVNotFound as exc:
        return _gone(exc)


@route(router, "/v1/secret/data/{path:path}", POST=WRITE_DATA, PUT=WRITE_DATA)
async def write_data(path: str, request: Request) -> Response:
    """A new version; create when the key has no metadata yet, update otherwise."""
    ctx = await _context(request)
    exists = _key_exists(ctx, path)
    body = await ctx.body()
    # `data` is stored as sent (encoded, not coerced): parameter constraints see exactly it.
    ctx.authorize(_write_operation(exists), body)
    warnings = _unknown(body, ("data", "options"))
    with _as_api_errors():
        rules.check_path(path)
        data = rules.encode_data(body.get("data"))
        cas = rules.parse_cas(body.get("options"))

    def action(repo: SecretsRepository):  # noqa: ANN202
        key = repo.key(ctx.namespace.id, path, lock=True)
        _recheck(ctx, exists, key, body)
        change = rules.write_version(key, path, repo.config(ctx.namespace.id), cas, now_micros())
        repo.save(ctx.namespace.id, change, data)
        return change

    change = _write(ctx, action)
    assert change.added is not None
    return respond(change.key.version_metadata(change.added), warnings=warnings)


@route(router, "/v1/secret/data/{path:path}", PATCH=PATCH_DATA)
async def patch_data(path: str, request: Request) -> Response:
    """JSON merge patch of the current version into a new version (the current one must be live)."""
    ctx = await _context(request)
    body = await ctx.body()
    ctx.authorize("patch", body)
    _require_merge_patch(request)
    warnings = _unknown(body, ("data", "options"))
    with _as_api_errors():
        rules.check_path(path)
        patch = body.get("data")
        rules.encode_data(patch)  # the patch itself: an object, finite, bounded
        cas = rules.parse_cas(body.get("options"))

    def action(repo: SecretsRepository):  # noqa: ANN202
        ns = ctx.namespace.id
        key = repo.key(ns, path, lock=True)
        config = repo.config(ns)
        now = now_micros()
        current = rules.patch_target(key, config, cas, now)
        stored = repo.version_data(ns, path, current.number)
        data = rules.encode_data(rules.merge_patch(rules.decode_data(stored or "{}"), patch))
        change = rules.write_version(key, path, config, cas, now)
        repo.save(ns, change, data)
        return change

    try:
        change = _write(ctx, action)
    except rules.KVNotFound as exc:
        return _gone(exc)
    assert change.added is not None
    return respond(change.key.version_metadata(change.added), warnings=warnings)


@route(router, "/v1/secret/data/{path:path}", DELETE=DELETE)
async def delete_latest(path: str, request: Request) -> Response:
    """Soft-delete the current version; 204 also when there is nothing to delete."""
    ctx = await _context(request)
    ctx.authorize("delete")
    with _as_api_errors():
        rules.check_path(path)

    def action(repo: SecretsRepository) -> None:
        key = repo.key(ctx.namespace.id, path, lock=True)
        if key is not None:
            change = rules.soft_delete_latest(key, now_micros())
            if change.updated:
                repo.save(ctx.namespace.id, change)

    _write(ctx, action)
    return respond()


# -- delete / undelete / destroy versions -------------------------------------------------------------------


async def _versions(request: Request, path: str, operation: str) -> Response:
    ctx = await _context(request)
    body = await ctx.body()

    def stored(values: dict[str, Any]) -> None:  # the version numbers acted on: parameter constraints see them
        with _as_api_errors():
            values["versions"] = rules.parse_versions(body.get("versions"))

    numbers = ctx.authorize_body("update", body, VERSIONS, stored)[0]["versions"]
    warnings = _unknown(body, ("versions",))
    with _as_api_errors():
        rules.check_path(path)

    def action(repo: SecretsRepository) -> None:
        ns = ctx.namespace.id
        key = repo.key(ns, path, lock=True)
        if key is None:
            return
        now = now_micros()
        if operation == "delete":
            change = rules.delete_versions(key, numbers, now)
        elif operation == "undelete":
            change = rules.undelete_versions(key, numbers, repo.config(ns), now)
        else:
            change = rules.destroy_versions(key, numbers)
        if change.updated:
            repo.save(ns, change)

    _write(ctx, action)
    return respond(warnings=warnings)


@route(router, "/v1/secret/delete/{path:path}", POST=WRITE_VERSIONS, PUT=WRITE_VERSIONS)
async def delete_versions(path: str, request: Request) -> Response:
    return await _versions(request, path, "delete")


@route(router, "/v1/secret/undelete/{path:path}", POST=WRITE_VERSIONS, PUT=WRITE_VERSIONS)
async def undelete_versions(path: str, request: Request) -> Response:
    return await _versions(request, path, "undelete")


@route(router, "/v1/secret/destroy/{path:path}", POST=WRITE_VERSIONS, PUT=WRITE_VERSIONS)
async def destroy_versions(path: str, request: Request) -> Response:
    return await _versions(request, path, "destroy")


# -- metadata -----------------------------------------------------------------------------------------------


async def _list(ctx: Context, path: str) -> Response:
    ctx.authorize("list")
    with _as_api_errors():
        prefix = rules.list_prefix(path)
    with ctx.store.read() as tx:
        paths = SecretsRepository(tx).paths(ctx.namespace.id, prefix)
    return list_response(rules.list_children(paths, prefix))


@route(router, "/v1/secret/metadata", GET=LISTS)
async def list_root(request: Request) -> Response:
    ctx = await _context(request, lists=True)
    if not ctx.is_list:
        ctx.authorize("read")
        raise bad_request("missing path")
    return await _list(ctx, "")


@route(router, "/v1/secret/metadata/{path:path}", GET=Operation(query=(LIST_ALSO,)))
async def read_metadata(path: str, request: Request) -> Response:
    ctx = await _context(request, lists=True)
    if ctx.is_list:
        return await _list(ctx, path)
    ctx.authorize("read")
    with _as_api_errors():
        rules.check_path(path)
    with ctx.store.read() as tx:
        key = SecretsRepository(tx).key(ctx.namespace.id, path)
    if key is None:
        raise not_found()
    return respond(key.to_api())


@route(router, "/v1/secret/metadata/{path:path}", POST=WRITE_METADATA, PUT=WRITE_METADATA)
async def write_metadata(path: str, request: Request) -> Response:
    """Set the key's settings and custom_metadata (fields present only); creates the metadata if absent."""
    ctx = await _context(request)
    exists = _key_exists(ctx, path)
    body = await ctx.body()
    values = _authorize_metadata(ctx, _write_operation(exists), body)
    warnings = _unknown(body, (*SETTINGS_FIELDS, "custom_metadata"))
    with _as_api_errors():
        rules.check_path(path)
    if not values:
        return respond(warnings=warnings)

    def action(repo: SecretsRepository):  # noqa: ANN202
        key = repo.key(ctx.namespace.id, path, lock=True)
        _recheck(ctx, exists, key)
        repo.save(ctx.namespace.id, rules.write_metadata(key, path, values, now_micros()))
        return repo.config(ctx.namespace.id)

    config = _write(ctx, action)
    if values.get("cas_required") is False and config.cas_required:
        warnings.append('"cas_required" is false, but the engine config requires check-and-set; it still applies')
    return respond(warnings=warnings)


@route(router, "/v1/secret/metadata/{path:path}", PATCH=PATCH_METADATA)
async def patch_metadata(path: str, request: Request) -> Response:
    """Merge-patch an existing key's settings; null resets a setting or removes a custom_metadata entry."""
    ctx = await _context(request)
    body = await ctx.body()
    values = _authorize_metadata(ctx, "patch", body, patch=True)
    _require_merge_patch(request)
    warnings = _unknown(body, (*SETTINGS_FIELDS, "custom_metadata"))
    with _as_api_errors():
        rules.check_path(path)

    def action(repo: SecretsRepository) -> None:
        key = repo.key(ctx.namespace.id, path, lock=True)
        repo.save(ctx.namespace.id, rules.patch_metadata(key, values))

    try:
        _write(ctx, action)
    except rules.KVNotFound as exc:
        return _gone(exc)
    return respond(warnings=warnings)


@route(router, "/v1/secret/metadata/{path:path}", DELETE=DELETE)
async def delete_metadata(path: str, request: Request) -> Response:
    """Every version and the metadata, for good; 204 also when absent."""
    ctx = await _context(request)
    ctx.authorize("delete")
    with _as_api_errors():
        rules.check_path(path)
    _write(ctx, lambda repo: repo.delete_key(ctx.namespace.id, path))
    return respond()


# -- subkeys ------------------------------------------------------------------------------------------------


@route(router, "/v1/secret/subkeys/{path:path}", GET=Operation(query=(VERSION, DEPTH)))
async def read_subkeys(path: str, request: Request) -> Response:
    ctx = await _context(request)
    ctx.authorize("read")
    with _as_api_errors():
        rules.check_path(path)
        number = rules.parse_version(request.query_params.get("version"))
        depth_text = request.query_params.get("depth")
        depth = 0 if not depth_text else rules.parse_integer("depth", depth_text, minimum=0, maximum=2**31 - 1)
    with _as_api_errors():
        found = _read_version(ctx, path, number)
    if found is None:
        raise not_found()
    try:
        return respond(rules.subkeys_result(*found, now_micros(), depth))
    except rules.KVNotFound as exc:
        return _gone(exc)


# -- the bare endpoint names, so they answer instead of redirecting to "<name>/" ------------------------------


async def _missing_path(request: Request) -> Response:
    ctx = await _context(request)
    ctx.authorize("update" if request.method in ("POST", "PUT") else _BARE_OPERATIONS[request.method])
    raise bad_request("missing path")


_BARE_OPERATIONS = {"GET": "read", "DELETE": "delete", "PATCH": "patch"}
_BARE = {
    "GET": READ,
    "POST": NO_FIELDS_WRITE,
    "PUT": NO_FIELDS_WRITE,
    "PATCH": Operation(body=NO_FIELDS, body_type=MERGE_PATCH),
    "DELETE": DELETE,
}

for _name, _methods in (
    ("data", ["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ("delete", ["POST", "PUT"]),
    ("undelete", ["POST", "PUT"]),
    ("destroy", ["POST", "PUT"]),
    ("subkeys", ["GET"]),
):
    route(router, f"/v1/secret/{_name}", **{method: _BARE[method] for method in _methods})(_missing_path)
