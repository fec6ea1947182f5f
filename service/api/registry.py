"""`agent-registry/...` routes (DECISIONS.md#d25): parse, authorize, call `registry.rules`, answer."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request, Response

from ..errors import ApiError, invalid_field, not_found, unsupported_operation
from ..registry import rules
from ..registry.model import Registration
from ..storage.store import ReferenceViolation, Tx, UniqueViolation
from . import fields as f
from .deps import Context, context
from .envelope import list_response, respond
from .operations import DELETE, LISTS, READ, Operation, route

router = APIRouter()

FIELDS = {
    "display_name": f.Field("string", rules.MAX_DISPLAY_NAME),
    "entity_id": f.Field("string", 64),
    "description": f.Field("string", 4096),
    "owner": f.Field("string", 1024),
    "ceiling_policies": f.Field("policies", 256),
    "no_default_ceiling_policy": f.Field("bool"),
    "optional_authorization_details": f.Field("bool"),
}
UPDATE = f.Body(FIELDS)
REGISTER = f.Body({**FIELDS, "id": f.Field("string", 64)})
WRITE_UPDATE = Operation(body=UPDATE)
WRITE_REGISTER = Operation(body=REGISTER)

# Messages for a write that lost a race the up-front checks could not see.
_CONFLICTS = {
    "uq_registrations_display_name": ("display_name", "display_name: already used by another agent registration"),
    "uq_registrations_entity_id": ("entity_id", "entity_id: this entity already has an agent registration"),
}


def _written(ctx: Context, reg: Registration, warnings: list[str]) -> Response:
    """The answer to a create or update: `{"id", "display_name"}` as in Vault (DECISIONS.md#d25); the record
    as stored, as a read answers it, when the request prefers it (RFC 7240 `Prefer: return=representation`,
    DECISIONS.md#d68) and the caller may read it, so a client need not read back what the server set (the
    times, the ceiling list). A caller that may only write gets Vault's answer: writing is not reading."""
    wanted = wants_representation(ctx.request.headers.get("prefer"))
    if not wanted or not ctx.may("read", f"agent-registry/registration/id/{reg.id}"):
        return respond({"id": reg.id, "display_name": reg.display_name}, warnings=warnings)
    resp = respond(reg.to_api(), warnings=warnings)
    resp.headers["Preference-Applied"] = "return=representation"
    return resp


def wants_representation(prefer: str | None) -> bool:
    """Whether a `Prefer` header (RFC 7240) asks for `return=representation`."""
    for preference in (prefer or "").split(","):
        token, _, value = preference.split(";", 1)[0].partition("=")
        if token.strip().lower() == "return" and value.strip().strip('"').lower() == "representation":
            return True
    return False


def _save(ctx: Context, action: Callable[[Tx], Registration]) -> Registration:
    """Run `action` in one write transaction. A write that lost a race to a concurrent one runs once more,
    so its up-front checks see the winner and give the precise message (naming the existing record)."""
    try:
        return ctx.store.write_retrying(action)
    except rules.RegistryError as exc:
        raise ApiError(exc.status, str(exc), fields=[exc.field]) from None
    except UniqueViolation as exc:
        field, message = _CONFLICTS.get(exc.constraint, (None, "conflicting agent registration"))
        raise ApiError(400, message, fields=[field]) from None
    except ReferenceViolation:
        raise invalid_field("entity_id", "entity_id: the entity no longer exists") from None


# How a URL names a registration: the key as users see it, and the storage lookup for it.
_LOOKUPS = {"id": "registration_by_id", "display_name": "registration_by_name", "entity_id": "registration_by_entity"}


def _find(tx, ctx: Context, key: str, value: str) -> Registration | None:  # noqa: ANN001
    return getattr(tx, _LOOKUPS[key])(ctx.namespace.id, value)


def _missing(key: str, value: str) -> rules.RegistryError:
    return rules.RegistryError(f'agent registration with {key} "{value}" not found', 404)


async def _read(request: Request, key: str, value: str) -> Response:
    ctx = await context(request)
    if ctx.is_list:  # LIST is a collection operation: never list the collection under an item's ACL path
        raise unsupported_operation()
    ctx.authorize("read")
    with ctx.store.read() as tx:
        reg = _find(tx, ctx, key, value)
    if reg is None:
        raise not_found(str(_missing(key, value)))
    return respond(reg.to_api())


async def _update(request: Request, key: str, value: str) -> Response:
    """Full-replace update of an existing registration (DECISIONS.md#d10); by name, the name comes from the URL."""
    ctx = await context(request)
    body = await ctx.body()
    values, warnings = ctx.authorize_body("update", body, UPDATE)
    if key == "display_name":
        values["display_name"] = value

    def action(tx):  # noqa: ANN001, ANN202
        existing = _find(tx, ctx, key, value)
        if existing is None:
            raise _missing(key, value)
        return rules.replace(tx, existing, values)

    return _written(ctx, _save(ctx, action), warnings)


async def _delete(request: Request, key: str, value: str) -> Response:
    ctx = await context(request)
    ctx.authorize("delete")
    with ctx.store.write() as tx:
        reg = _find(tx, ctx, key, value)
        if reg is not None:
            tx.delete_registration(reg.id)
    return respond()  # 204 also when absent (DECISIONS.md#d16)


async def _list(request: Request, key: str) -> Response:
    ctx = await context(request)
    if not ctx.is_list:
        raise not_found()
    ctx.authorize("list")
    with ctx.store.read() as tx:
        regs = tx.registrations(ctx.namespace.id)
    if key == "id":
        info = {r.id: r.list_info() for r in regs}
    else:
        info = {r.display_name: {"display_name": r.display_name, "id": r.id} for r in regs}
    return list_response(sorted(info), info)


@route(router, "/v1/agent-registry/register", POST=WRITE_REGISTER, PUT=WRITE_REGISTER)
async def register(request: Request) -> Response:
    """Create; with `id`, full-replace update of that record (a taken display_name is an error, DECISIONS.md#d10)."""
    ctx = await context(request)
    body = await ctx.body()
    values, warnings = ctx.authorize_body("update" if body.get("id") else "create", body, REGISTER)
    reg_id = values.pop("id", "")

    def action(tx):  # noqa: ANN001, ANN202
        if not reg_id:
            return rules.create(tx, ctx.namespace.id, values)
        existing = tx.registration_by_id(ctx.namespace.id, reg_id)
        if existing is None:
            raise _missing("id", reg_id)
        return rules.replace(tx, existing, values)

    return _written(ctx, _save(ctx, action), warnings)


# Collections first: Starlette takes the first matching route, and `{name:path}` would also match "".
@route(router, "/v1/agent-registry/registration/id", GET=LISTS)
@route(router, "/v1/agent-registry/registration/id/", GET=LISTS)
async def list_by_id(request: Request) -> Response:
    return await _list(request, "id")


@route(router, "/v1/agent-registry/registration/display-name", GET=LISTS)
@route(router, "/v1/agent-registry/registration/display-name/", GET=LISTS)
async def list_by_name(request: Request) -> Response:
    return await _list(request, "display_name")


@route(router, "/v1/agent-registry/registration/id/{reg_id}", GET=READ)
async def read_by_id(reg_id: str, request: Request) -> Response:
    return await _read(request, "id", reg_id)


@route(router, "/v1/agent-registry/registration/id/{reg_id}", POST=WRITE_UPDATE, PUT=WRITE_UPDATE)
async def update_by_id(reg_id: str, request: Request) -> Response:
    return await _update(request, "id", reg_id)


@route(router, "/v1/agent-registry/registration/id/{reg_id}", DELETE=DELETE)
async def delete_by_id(reg_id: str, request: Request) -> Response:
    return await _delete(request, "id", reg_id)


@route(router, "/v1/agent-registry/registration/display-name/{name:path}", GET=READ)
async def read_by_name(name: str, request: Request) -> Response:
    return await _read(request, "display_name", name)


@route(router, "/v1/agent-registry/registration/display-name/{name:path}", POST=WRITE_UPDATE, PUT=WRITE_UPDATE)
async def update_by_name(name: str, request: Request) -> Response:
    return await _update(request, "display_name", name)


@route(router, "/v1/agent-registry/registration/display-name/{name:path}", DELETE=DELETE)
async def delete_by_name(name: str, request: Request) -> Response:
    return await _delete(request, "display_name", name)


@route(router, "/v1/agent-registry/registration/entity-id/{entity_id}", GET=READ)
async def read_by_entity(entity_id: str, request: Request) -> Response:
    return await _read(request, "entity_id", entity_id)
