"""ACL policy routes: `sys/policies/acl/:name` and the legacy `sys/policy/:name` (DECISIONS.md#d39)."""

from __future__ import annotations

import base64
import binascii
import re

from fastapi import APIRouter, Request, Response

from ..access.canonical import POLICY_NAME
from ..authz.builtin import UNDELETABLE
from ..authz.policy import PolicyError, parse_policy
from ..errors import bad_request, invalid_field, not_found, unsupported_operation
from . import fields as f
from .deps import Context, context
from .envelope import list_response, respond
from .operations import DELETE, LIST_ALSO, LISTS, READ, Operation, route

router = APIRouter()

MAX_POLICY_BYTES = 1024 * 1024
POLICY = f.Body({"policy": f.Field("string", MAX_POLICY_BYTES), "rules": f.Field("string", MAX_POLICY_BYTES)})
WRITE = Operation(body=POLICY)
# sys/policy (legacy) answers a plain GET with the names too; sys/policies/acl only LIST.
LIST_OR_READ = Operation(query=(LIST_ALSO,))


def _decode(text: str) -> str:
    """The `policy` field may be base64 (Vault accepts either); only decode when it is clearly base64."""
    stripped = text.strip()
    if stripped and re.fullmatch(r"[A-Za-z0-9+/=\s]+", stripped) and len(stripped) % 4 == 0:
        try:
            decoded = base64.b64decode(stripped, validate=False).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return text
        if "path" in decoded:
            return decoded
    return text


def _decoded(values: dict) -> None:
    """The policy text as stored, so the ACL checks the text that will be written."""
    for key in ("policy", "rules"):
        if key in values:
            values[key] = _decode(values[key])


async def _read(ctx: Context, name: str, legacy: bool) -> Response:
    ctx.authorize("read")
    with ctx.store.read() as tx:
        text = "" if name == "root" else tx.policy_text(ctx.namespace.id, name)
    if text is None:
        raise not_found()
    if legacy:
        data = {"name": name, "rules": text}
        return respond(data, extra=data)
    return respond({"name": name, "policy": text})


async def _write(ctx: Context, name: str) -> Response:
    body = await ctx.body()
    with ctx.store.read() as tx:
        exists = tx.policy_text(ctx.namespace.id, name) is not None
    values, warnings = ctx.authorize_body("update" if exists else "create", body, POLICY, refine=_decoded)
    text = values.get("policy", values.get("rules"))
    if text is None or not text.strip():
        raise invalid_field("policy", "policy: is required (the HCL or JSON policy text)")
    if name == "root":
        raise invalid_field("name", 'cannot update "root" policy')
    try:
        parse_policy(name, text)
    except PolicyError as exc:
        message = str(exc)  # the HCL parser's own errors already carry the prefix
        prefix = "failed to parse policy: "
        raise invalid_field("policy", message if message.startswith(prefix) else prefix + message) from None
    with ctx.store.write() as tx:
        tx.put_policy(ctx.namespace.id, name, text)
    return respond(warnings=warnings)


async def _delete(ctx: Context, name: str) -> Response:
    ctx.authorize("delete")
    if name in UNDELETABLE:
        raise bad_request(f'cannot delete "{name}" policy')
    with ctx.store.write() as tx:
        tx.delete_policy(ctx.namespace.id, name)
    return respond()


async def _list(ctx: Context, legacy: bool) -> Response:
    ctx.authorize("list" if ctx.is_list or not legacy else "read")
    with ctx.store.read() as tx:
        names = sorted(set(tx.policy_names(ctx.namespace.id)) | {"root"})
    if legacy and not ctx.is_list:
        data = {"policies": names, "keys": names}
        return respond(data, extra=data)
    return list_response(names)


@route(router, "/v1/sys/policies/acl", GET=LISTS)
@route(router, "/v1/sys/policies/acl/", GET=LISTS)
async def list_acl(request: Request) -> Response:
    ctx = await context(request)
    if not ctx.is_list:
        raise not_found()
    return await _list(ctx, legacy=False)


@route(router, "/v1/sys/policy", GET=LIST_OR_READ)
@route(router, "/v1/sys/policy/", GET=LIST_OR_READ)
async def list_legacy(request: Request) -> Response:
    return await _list(await context(request), legacy=True)


@route(router, "/v1/sys/policies/acl/{name}", GET=READ, POST=WRITE, PUT=WRITE, DELETE=DELETE)
async def acl_policy(name: str, request: Request) -> Response:
    return await _dispatch(request, name, legacy=False)


@route(router, "/v1/sys/policy/{name}", GET=READ, POST=WRITE, PUT=WRITE, DELETE=DELETE)
async def legacy_policy(name: str, request: Request) -> Response:
    return await _dispatch(request, name, legacy=True)


async def _dispatch(request: Request, raw_name: str, legacy: bool) -> Response:
    ctx = await context(request, name=raw_name, rule=POLICY_NAME)
    # LIST is a collection operation: never list the collection under an item's ACL path
    if request.method == "GET" and ctx.is_list:
        raise unsupported_operation()
    name = ctx.name
    if request.method == "GET":
        return await _read(ctx, name, legacy)
    if request.method == "DELETE":
        return await _delete(ctx, name)
    return await _write(ctx, name)
