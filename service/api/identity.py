"""`identity/entity` and `identity/entity-alias` routes (DECISIONS.md#d46); groups are in api/groups.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response

from ..errors import ApiError, bad_request, not_found, unsupported_operation
from ..identity import groups, rules
from ..identity.model import Alias
from ..storage.store import ReferenceViolation, Tx, UniqueViolation
from . import fields as f
from .deps import Context, context
from .envelope import list_response, respond
from .operations import DELETE, LISTS, READ, Operation, route

router = APIRouter()

ENTITY_FIELDS = {
    "name": f.Field("string", rules.MAX_NAME),
    "policies": f.Field("policies", 256),
    "metadata": f.Field("map"),
    "disabled": f.Field("bool"),
}
ALIAS_FIELDS = {
    "name": f.Field("string", 1024),
    "canonical_id": f.Field("string", 64),
    "mount_accessor": f.Field("string", 512),
    "issuer": f.Field("issuer", 2048),
    "external_id": f.Field("string", 1024),
    "custom_metadata": f.Field("map"),
}
ENTITY = f.Body(ENTITY_FIELDS)
ALIAS = f.Body(ALIAS_FIELDS)
ENTITY_WRITE = f.Body({**ENTITY_FIELDS, "id": f.Field("string", 64)})
ALIAS_WRITE = f.Body({**ALIAS_FIELDS, "id": f.Field("string", 64)})
WRITE_ENTITY, WRITE_ALIAS = Operation(body=ENTITY), Operation(body=ALIAS)
CREATE_ENTITY, CREATE_ALIAS = Operation(body=ENTITY_WRITE), Operation(body=ALIAS_WRITE)
T = TypeVar("T")
_CONFLICTS = {
    "uq_entities_name": ("name", "name: an entity with this name already exists"),
    "uq_aliases_issuer_external_id": (None, "alias already exists for issuer and external_id"),
    "uq_aliases_mount_name": ("name", "name: an alias with this name already exists for this mount accessor"),
    "uq_groups_name": ("name", "name: a group with this name already exists"),
    "uq_group_aliases_canonical_id": ("canonical_id", "canonical_id: the group already has an alias"),
    "uq_group_aliases_mount_name": (
        "name",
        "name: a group alias with this name already exists for this mount accessor",
    ),
}


def save_identity(ctx: Context, action: Callable[[Tx], T]) -> T:
    """One write transaction; a race loser runs once more so its checks name the winner, or the object
    deleted meanwhile, precisely."""
    try:
        try:
            return ctx.store.write_retrying(action)
        except ReferenceViolation:  # a concurrent delete of what the action refers to: its checks say which
            return ctx.store.write_retrying(action)
    except rules.IdentityError as exc:
        raise ApiError(exc.status, str(exc), fields=[exc.field]) from None
    except UniqueViolation as exc:
        field, message = _CONFLICTS.get(exc.constraint, (None, "conflicting identity object"))
        raise ApiError(400, message, fields=[field]) from None
    except ReferenceViolation as exc:
        if "registration" in exc.constraint:
            raise bad_request(
                "the entity is referenced by an agent registration; delete the registration first"
            ) from None
        raise bad_request("an identity object the request names was deleted meanwhile") from None


def read_item(ctx: Context, render: Callable[[Tx], dict | None]) -> Response:
    """GET on one object's path: its read data from `render`, or 404 when it returns None. LIST there is
    refused: a collection is never listed under an item's ACL path."""
    if ctx.is_list:
        raise unsupported_operation()
    ctx.authorize("read")
    with ctx.store.read() as tx:
        data = render(tx)
    if data is None:
        raise not_found()
    return respond(data)


def delete_item(ctx: Context, remove: Callable[[Tx], None]) -> Response:
    """DELETE on one object's path: `remove` deletes it if it exists; 204 either way, as in Vault."""
    ctx.authorize("delete")
    save_identity(ctx, remove)
    return respond()


async def update_item(
    ctx: Context, declared: f.Body, find: Callable[[Tx], Any], update: Callable, missing: str
) -> tuple[Any, list[str]]:
    """POST on an existing object's path: (the updated object, warnings); 404 naming it when it is gone."""
    values, warnings = ctx.authorize_body("update", await ctx.body(), declared)

    def action(tx: Tx):  # noqa: ANN202
        found = find(tx)
        if found is None:
            raise rules.IdentityError(missing, 404)
        return update(tx, found, values)

    return save_identity(ctx, action), warnings


# -- entities ---------------------------------------------------------------------------------------


@route(router, "/v1/identity/entity", POST=CREATE_ENTITY, PUT=CREATE_ENTITY)
async def write_entity(request: Request) -> Response:
    ctx = await context(request)
    body = await ctx.body()
    values, warnings = ctx.authorize_body("update" if body.get("id") else "create", body, ENTITY_WRITE)
    entity_id = values.pop("id", "")

    def action(tx):  # noqa: ANN001, ANN202
        if not entity_id:
            return rules.create_entity(tx, ctx.namespace.id, values)
        entity = tx.entity_by_id(ctx.namespace.id, entity_id)
        if entity is None:
            raise rules.IdentityError(f'entity with id "{entity_id}" not found', 404)
        return rules.update_entity(tx, entity, values)

    entity = save_identity(ctx, action)
    return respond({"id": entity.id, "name": entity.name, "aliases": None}, warnings=warnings)


@route(router, "/v1/identity/entity/id", GET=LISTS)
@route(router, "/v1/identity/entity/id/", GET=LISTS)
async def list_entities_by_id(request: Request) -> Response:
    ctx = await context(request)
    if not ctx.is_list:
        raise not_found()
    return await _list_entities(ctx, by="id")


@route(router, "/v1/identity/entity/name", GET=LISTS)
@route(router, "/v1/identity/entity/name/", GET=LISTS)
async def list_entities_by_name(request: Request) -> Response:
    ctx = await context(request)
    if not ctx.is_list:
        raise not_found()
    return await _list_entities(ctx, by="name")


async def _list_entities(ctx: Context, by: str) -> Response:
    ctx.authorize("list")
    with ctx.store.read() as tx:
        entities = tx.entities(ctx.namespace.id)
        aliases = tx.aliases(ctx.namespace.id)
    by_entity: dict[str, list] = {}
    for alias in aliases:
        by_entity.setdefault(alias.canonical_id, []).append(alias.to_api())
    if by == "name":
        return list_response(sorted(e.name for e in entities))
    info = {e.id: {"name": e.name, "aliases": by_entity.get(e.id, [])} for e in entities}
    return list_response(sorted(info), info)


async def _entity_route(request: Request, key: str, value: str) -> Response:
    ctx = await context(request)
    method = request.method
    lookup = "entity_by_id" if key == "id" else "entity_by_name"
    if method == "GET":

        def render(tx: Tx) -> dict | None:
            entity = getattr(tx, lookup)(ctx.namespace.id, value)
            if entity is None:
                return None
            return entity.to_api(*groups.entity_group_ids(tx, ctx.namespace.id, entity.id))

        return read_item(ctx, render)
    if method == "DELETE":

        def remove(tx: Tx) -> None:
            entity = getattr(tx, lookup)(ctx.namespace.id, value)
            if entity is not None:
                rules.delete_entity(tx, entity)

        return delete_item(ctx, remove)
    body = await ctx.body()
    with ctx.store.read() as tx:
        exists = getattr(tx, lookup)(ctx.namespace.id, value) is not None
    values, warnings = ctx.authorize_body("update" if exists else "create", body, ENTITY)

    def write(tx):  # noqa: ANN001, ANN202
        entity = getattr(tx, lookup)(ctx.namespace.id, value)
        if entity is None:
            if key == "id":
                raise rules.IdentityError(f'entity with id "{value}" not found', 404)
            return rules.create_entity(tx, ctx.namespace.id, {**values, "name": value})
        if key == "name":
            values.pop("name", None)  # the URL names the entity
        return rules.update_entity(tx, entity, values)

    entity = save_identity(ctx, write)
    return respond({"id": entity.id, "name": entity.name, "aliases": None}, warnings=warnings)


@route(router, "/v1/identity/entity/id/{entity_id}", GET=READ, POST=WRITE_ENTITY, PUT=WRITE_ENTITY, DELETE=DELETE)
async def entity_by_id(entity_id: str, request: Request) -> Response:
    return await _entity_route(request, "id", entity_id)


@route(router, "/v1/identity/entity/name/{name}", GET=READ, POST=WRITE_ENTITY, PUT=WRITE_ENTITY, DELETE=DELETE)
async def entity_by_name(name: str, request: Request) -> Response:
    return await _entity_route(request, "name", name)


# -- aliases ----------------------------------------------------------------------------------------


@route(router, "/v1/identity/entity-alias", POST=CREATE_ALIAS, PUT=CREATE_ALIAS)
async def create_alias(request: Request) -> Response:
    ctx = await context(request)
    body = await ctx.body()
    values, warnings = ctx.authorize_body("update" if body.get("id") else "create", body, ALIAS_WRITE)
    alias_id = values.pop("id", "")

    def action(tx):  # noqa: ANN001, ANN202
        if not alias_id:
            return rules.create_alias(tx, ctx.namespace.id, values)
        alias = tx.alias_by_id(ctx.namespace.id, alias_id)
        if alias is None:
            raise rules.IdentityError(f'entity alias with id "{alias_id}" not found', 404)
        return rules.update_alias(tx, alias, values)

    alias = save_identity(ctx, action)
    return respond({"id": alias.id, "canonical_id": alias.canonical_id}, warnings=warnings)


@route(router, "/v1/identity/entity-alias/id", GET=LISTS)
@route(router, "/v1/identity/entity-alias/id/", GET=LISTS)
async def list_aliases(request: Request) -> Response:
    ctx = await context(request)
    if not ctx.is_list:
        raise not_found()
    return await _list_aliases(ctx)


async def _list_aliases(ctx: Context) -> Response:
    ctx.authorize("list")
    with ctx.store.read() as tx:
        aliases = tx.aliases(ctx.namespace.id)
    info = {
        a.id: {
            "name": a.name,
            "canonical_id": a.canonical_id,
            "mount_accessor": a.mount_accessor,
            "issuer": a.issuer,
        }
        for a in aliases
    }
    return list_response(sorted(info), info)


@route(router, "/v1/identity/entity-alias/id/{alias_id}", GET=READ, POST=WRITE_ALIAS, PUT=WRITE_ALIAS, DELETE=DELETE)
async def alias_by_id(alias_id: str, request: Request) -> Response:
    ctx = await context(request)

    def find(tx: Tx) -> Alias | None:
        return tx.alias_by_id(ctx.namespace.id, alias_id)

    def render(tx: Tx) -> dict | None:
        alias = find(tx)
        return alias.to_api() if alias is not None else None

    def remove(tx: Tx) -> None:
        if find(tx) is not None:
            tx.delete_alias(alias_id)

    if request.method == "GET":
        return read_item(ctx, render)
    if request.method == "DELETE":
        return delete_item(ctx, remove)
    missing = f'entity alias with id "{alias_id}" not found'
    alias, warnings = await update_item(ctx, ALIAS, find, rules.update_alias, missing)
    return respond({"id": alias.id, "canonical_id": alias.canonical_id}, warnings=warnings)
