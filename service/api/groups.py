"""`identity/group` and `identity/group-alias` routes, as Vault has them (DECISIONS.md#d46; docs/api.md).

Names and ids in paths are verbatim (access/canonical.py), as for entities: the ACL sees the path that names
the object, and bodies are checked with the values as they will be stored (`Context.authorize_body`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ..errors import ApiError, bad_request, not_found
from ..identity import groups
from ..identity.model import GroupAlias
from ..identity.rules import MAX_NAME, IdentityError
from ..storage.store import Tx
from . import fields as f
from .deps import Context, context
from .envelope import list_response, respond
from .identity import delete_item, read_item, save_identity, update_item
from .operations import DELETE, LISTS, READ, Operation, route

router = APIRouter()

GROUP_FIELDS = {
    "name": f.Field("string", MAX_NAME),
    "type": f.Field("string", 16),
    "policies": f.Field("policies", 256),
    "metadata": f.Field("map"),
    "member_entity_ids": f.Field("strings", 64),
    "member_group_ids": f.Field("strings", 64),
}
GROUP_ALIAS_FIELDS = {
    "name": f.Field("string", 1024),
    "mount_accessor": f.Field("string", 512),
    "canonical_id": f.Field("string", 64),
}
GROUP = f.Body(GROUP_FIELDS)
GROUP_ALIAS = f.Body(GROUP_ALIAS_FIELDS)
GROUP_WRITE = f.Body({**GROUP_FIELDS, "id": f.Field("string", 64)})
GROUP_ALIAS_WRITE = f.Body({**GROUP_ALIAS_FIELDS, "id": f.Field("string", 64)})
WRITE_GROUP, WRITE_GROUP_ALIAS = Operation(body=GROUP), Operation(body=GROUP_ALIAS)
CREATE_GROUP, CREATE_GROUP_ALIAS = Operation(body=GROUP_WRITE), Operation(body=GROUP_ALIAS_WRITE)


def _written(group) -> dict:  # noqa: ANN001
    return {"id": group.id, "name": group.name}


# -- groups -----------------------------------------------------------------------------------------


@route(router, "/v1/identity/group", POST=CREATE_GROUP, PUT=CREATE_GROUP)
async def write_group(request: Request) -> Response:
    """Create, or update the group named by `id` or else by `name` (Vault's create-or-update)."""
    ctx = await context(request)
    body = await ctx.body()
    exists = bool(body.get("id")) or _named_group_exists(ctx, body.get("name"))
    values, warnings = ctx.authorize_body("update" if exists else "create", body, GROUP_WRITE)
    group_id = values.pop("id", "")

    def action(tx):  # noqa: ANN001, ANN202
        if group_id:
            group = tx.group_by_id(ctx.namespace.id, group_id)
            if group is None:
                raise IdentityError(f'group with id "{group_id}" not found', 404)
            return groups.update_group(tx, group, values)
        group = tx.group_by_name(ctx.namespace.id, values["name"]) if values.get("name") else None
        if group is not None:
            return groups.update_group(tx, group, values)
        return groups.create_group(tx, ctx.namespace.id, values)

    return respond(_written(save_identity(ctx, action)), warnings=warnings)


def _named_group_exists(ctx: Context, raw: object) -> bool:
    """Whether the body's `name` names a group (the operation is then `update`). A name that does not parse
    names none; `authorize_body` refuses it after the ACL check."""
    try:
        values, _ = f.parse({"name": raw}, {"name": GROUP_FIELDS["name"]})
    except ApiError:
        return False
    if not values.get("name"):
        return False
    with ctx.store.read() as tx:
        return tx.group_by_name(ctx.namespace.id, values["name"]) is not None


@route(router, "/v1/identity/group/id", GET=LISTS)
@route(router, "/v1/identity/group/id/", GET=LISTS)
async def list_groups_by_id(request: Request) -> Response:
    return await _list_groups(await context(request), by="id")


@route(router, "/v1/identity/group/name", GET=LISTS)
@route(router, "/v1/identity/group/name/", GET=LISTS)
async def list_groups_by_name(request: Request) -> Response:
    return await _list_groups(await context(request), by="name")


async def _list_groups(ctx: Context, by: str) -> Response:
    if not ctx.is_list:
        raise not_found()
    ctx.authorize("list")
    with ctx.store.read() as tx:
        found = tx.groups(ctx.namespace.id)
    if by == "name":
        return list_response(sorted(g.name for g in found))
    return list_response(sorted(g.id for g in found), {g.id: {"name": g.name, "type": g.type} for g in found})


async def _group_route(request: Request, key: str, value: str) -> Response:
    ctx = await context(request)
    lookup = "group_by_id" if key == "id" else "group_by_name"

    def render(tx: Tx) -> dict | None:
        group = getattr(tx, lookup)(ctx.namespace.id, value)
        return group.to_api() if group is not None else None

    def remove(tx: Tx) -> None:
        group = getattr(tx, lookup)(ctx.namespace.id, value)
        if group is not None:
            tx.delete_group(group.id)

    if request.method == "GET":
        return read_item(ctx, render)
    if request.method == "DELETE":
        return delete_item(ctx, remove)
    body = await ctx.body()
    with ctx.store.read() as tx:
        exists = getattr(tx, lookup)(ctx.namespace.id, value) is not None
    values, warnings = ctx.authorize_body("update" if exists else "create", body, GROUP)

    def write(tx):  # noqa: ANN001, ANN202
        group = getattr(tx, lookup)(ctx.namespace.id, value)
        if group is None:
            if key == "id":
                raise IdentityError(f'group with id "{value}" not found', 404)
            return groups.create_group(tx, ctx.namespace.id, {**values, "name": value})
        if key == "name":
            values.pop("name", None)  # the URL names the group
        return groups.update_group(tx, group, values)

    return respond(_written(save_identity(ctx, write)), warnings=warnings)


@route(router, "/v1/identity/group/id/{group_id}", GET=READ, POST=WRITE_GROUP, PUT=WRITE_GROUP, DELETE=DELETE)
async def group_by_id(group_id: str, request: Request) -> Response:
    return await _group_route(request, "id", group_id)


@route(router, "/v1/identity/group/name/{name}", GET=READ, POST=WRITE_GROUP, PUT=WRITE_GROUP, DELETE=DELETE)
async def group_by_name(name: str, request: Request) -> Response:
    return await _group_route(request, "name", name)


# -- lookup ---------------------------------------------------------------------------------------


LOOKUP = f.Body(
    {
        "name": f.Field("string", MAX_NAME),
        "id": f.Field("string", 64),
        "alias_id": f.Field("string", 64),
        "alias_name": f.Field("string", 1024),
        "alias_mount_accessor": f.Field("string", 512),
    }
)
WRITE_LOOKUP = Operation(body=LOOKUP)


def _looked_up(tx, namespace_id: str, key: str, values: dict):  # noqa: ANN001, ANN202
    if key == "name":
        return tx.group_by_name(namespace_id, values["name"])
    if key == "id":
        return tx.group_by_id(namespace_id, values["id"])
    if key == "alias_id":
        alias = tx.group_alias_by_id(namespace_id, values["alias_id"])
    else:
        alias = tx.group_alias_by_mount_name(namespace_id, values["alias_mount_accessor"], values["alias_name"])
    return tx.group_by_id(namespace_id, alias.canonical_id) if alias is not None else None


@route(router, "/v1/identity/lookup/group", POST=WRITE_LOOKUP, PUT=WRITE_LOOKUP)
async def lookup_group(request: Request) -> Response:
    """Vault's group lookup by exactly one of `name`, `id`, `alias_id`, or `alias_name` with
    `alias_mount_accessor`; 204 when nothing matches."""
    ctx = await context(request)
    values, warnings = ctx.authorize_body("update", await ctx.body(), LOOKUP)
    given = [k for k in ("name", "id", "alias_id", "alias_name") if values.get(k)]
    if len(given) != 1 or (given == ["alias_name"]) != bool(values.get("alias_mount_accessor")):
        raise bad_request(
            "give exactly one of name, id, alias_id, or alias_name together with alias_mount_accessor"
        )
    with ctx.store.read() as tx:
        group = _looked_up(tx, ctx.namespace.id, given[0], values)
    if group is None:
        return respond(warnings=warnings)
    return respond(group.to_api(), warnings=warnings)


# -- group aliases ----------------------------------------------------------------------------------


def _alias_written(alias) -> dict:  # noqa: ANN001
    return {"id": alias.id, "canonical_id": alias.canonical_id}


@route(router, "/v1/identity/group-alias", POST=CREATE_GROUP_ALIAS, PUT=CREATE_GROUP_ALIAS)
async def write_group_alias(request: Request) -> Response:
    ctx = await context(request)
    body = await ctx.body()
    values, warnings = ctx.authorize_body("update" if body.get("id") else "create", body, GROUP_ALIAS_WRITE)
    alias_id = values.pop("id", "")

    def action(tx):  # noqa: ANN001, ANN202
        if not alias_id:
            return groups.create_group_alias(tx, ctx.namespace.id, values)
        alias = tx.group_alias_by_id(ctx.namespace.id, alias_id)
        if alias is None:
            raise IdentityError(f'group alias with id "{alias_id}" not found', 404)
        return groups.update_group_alias(tx, alias, values)

    return respond(_alias_written(save_identity(ctx, action)), warnings=warnings)


@route(router, "/v1/identity/group-alias/id", GET=LISTS)
@route(router, "/v1/identity/group-alias/id/", GET=LISTS)
async def list_group_aliases(request: Request) -> Response:
    ctx = await context(request)
    if not ctx.is_list:
        raise not_found()
    ctx.authorize("list")
    with ctx.store.read() as tx:
        aliases = tx.group_aliases(ctx.namespace.id)
    info = {
        a.id: {"name": a.name, "canonical_id": a.canonical_id, "mount_accessor": a.mount_accessor} for a in aliases
    }
    return list_response(sorted(info), info)


@route(router, "/v1/identity/group-alias/id/{alias_id}", GET=READ, POST=WRITE_GROUP_ALIAS, PUT=WRITE_GROUP_ALIAS,
       DELETE=DELETE)  # fmt: skip
async def group_alias_by_id(alias_id: str, request: Request) -> Response:
    ctx = await context(request)

    def find(tx: Tx) -> GroupAlias | None:
        return tx.group_alias_by_id(ctx.namespace.id, alias_id)

    def render(tx: Tx) -> dict | None:
        alias = find(tx)
        return alias.to_api() if alias is not None else None

    def remove(tx: Tx) -> None:
        if find(tx) is not None:
            tx.delete_group_alias(alias_id)

    if request.method == "GET":
        return read_item(ctx, render)
    if request.method == "DELETE":
        return delete_item(ctx, remove)
    missing = f'group alias with id "{alias_id}" not found'
    alias, warnings = await update_item(ctx, GROUP_ALIAS, find, groups.update_group_alias, missing)
    return respond(_alias_written(alias), warnings=warnings)
