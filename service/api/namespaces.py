"""`sys/namespaces/:path` routes: create, read, LIST, delete (DECISIONS.md#d18: no inheritance).

A namespace is deleted only without children, entities, aliases, profiles and registrations; its secrets,
policies and tokens go with it, in the same transaction (docs/api.md).
"""

from __future__ import annotations

import secrets
import string

from fastapi import APIRouter, Request, Response

from vaultguard.rules.names import MAX_DEPTH

from ..access.canonical import NAMESPACE_NAME
from ..errors import bad_request, invalid_field, not_found
from ..identity.model import Namespace
from ..storage.store import UniqueViolation
from . import fields as f
from .deps import Context, context
from .envelope import list_response, respond
from .operations import DELETE, LISTS, READ, Operation, route

router = APIRouter()
NAMESPACE = f.Body({"custom_metadata": f.Field("map")})
WRITE = Operation(body=NAMESPACE)


def _child_path(ctx: Context) -> str:
    path = ctx.namespace.path + ctx.name + "/"
    if path.count("/") > MAX_DEPTH:
        raise invalid_field("path", f"path: namespaces may be nested at most {MAX_DEPTH} levels deep")
    return path


def _new_id() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(8))


@route(router, "/v1/sys/namespaces", GET=LISTS)
@route(router, "/v1/sys/namespaces/", GET=LISTS)
async def list_namespaces(request: Request) -> Response:
    ctx = await context(request)
    if not ctx.is_list:
        raise not_found()
    ctx.authorize("list")
    with ctx.store.read() as tx:
        children = tx.child_namespaces(ctx.namespace.path)
    keys = [n.path[len(ctx.namespace.path) :] for n in children]
    return list_response(keys, {k: n.to_api() for k, n in zip(keys, children, strict=True)})


@route(router, "/v1/sys/namespaces/{name:path}", GET=READ, POST=WRITE, PUT=WRITE, DELETE=DELETE)
async def namespace(name: str, request: Request) -> Response:
    ctx = await context(request, name=name, rule=NAMESPACE_NAME)
    path = _child_path(ctx)
    if request.method == "GET":
        ctx.authorize("read")
        with ctx.store.read() as tx:
            ns = tx.namespace_by_path(path)
        if ns is None:
            raise not_found()
        return respond(ns.to_api())
    if request.method == "DELETE":
        ctx.authorize("delete")
        with ctx.store.write() as tx:
            ns = tx.namespace_by_path(path)
            if ns is None:
                return respond()
            if tx.child_namespaces(path):
                raise bad_request(f'namespace "{path}" has child namespaces; delete them first')
            if not tx.namespace_is_empty(ns.id):
                raise bad_request(
                    f'namespace "{path}" is not empty: delete its entities, aliases, profiles and registrations first'
                )
            tx.delete_namespace(ns.id)
        return respond()
    body = await ctx.body()
    with ctx.store.read() as tx:
        existing = tx.namespace_by_path(path)
    values, warnings = ctx.authorize_body("update" if existing else "create", body, NAMESPACE)
    try:
        with ctx.store.write() as tx:
            existing = tx.namespace_by_path(path)
            if existing is not None:
                if "custom_metadata" in values:
                    existing.custom_metadata = values["custom_metadata"]
                    tx.update_namespace_metadata(existing)
                ns = existing
            else:
                ns = Namespace(id=_new_id(), path=path, custom_metadata=values.get("custom_metadata", {}))
                tx.insert_namespace(ns)
    except UniqueViolation:
        raise invalid_field("path", f'namespace "{path}" already exists') from None
    return respond(ns.to_api(), warnings=warnings)
