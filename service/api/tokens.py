"""`auth/token/*`: the admin token store the hashicorp provider relies on (DECISIONS.md#d48)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response

from ..access.agents import AgentCaller
from ..access.callers import AdminCaller
from ..authn.tokens import TokenRecord, new_accessor, new_token, token_hash
from ..clock import rfc3339
from ..errors import bad_request, permission_denied
from . import fields as f
from .deps import Context, context, request_token
from .envelope import respond
from .operations import NO_FIELDS_WRITE, READ, Operation, route

router = APIRouter()

MAX_TTL = 32 * 24 * 3600  # Vault's default max lease TTL (768h)
TOKEN = f.Body({"token": f.Field("string", 256)})
CREATE = f.Body(
    {
        "policies": f.Field("policies", 256),
        "ttl": f.Field("duration"),
        "explicit_max_ttl": f.Field("duration"),
        "display_name": f.Field("string", 256),
        "num_uses": f.Field("int"),
        "no_parent": f.Field("bool"),
        "no_default_policy": f.Field("bool"),
        "renewable": f.Field("bool"),
        "meta": f.Field("map"),
        "period": f.Field("duration"),
        "id": f.Field("string", 256),
        "type": f.Field("string", 16),
        "entity_alias": f.Field("string", 256),
    },
    checked_elsewhere={  # by `create` below
        "num_uses": {"type": "integer", "minimum": 0, "maximum": f.MAX_INT},
        "type": {"type": "string", "enum": ["service", ""]},
    },
)
WRITE_TOKEN, WRITE_CREATE = Operation(body=TOKEN), Operation(body=CREATE)


def lookup_data(record: TokenRecord, token: str, namespace_path: str) -> dict:
    now = time.time()
    return {
        "accessor": record.accessor,
        "creation_time": int(record.creation_time),
        "creation_ttl": record.creation_ttl,
        "display_name": record.display_name,
        "entity_id": record.entity_id,
        "expire_time": rfc3339(record.expire_time) if record.expire_time else None,
        "explicit_max_ttl": record.explicit_max_ttl,
        "id": token,
        "issue_time": rfc3339(record.creation_time),
        "meta": record.meta or None,
        "num_uses": record.num_uses,
        "orphan": record.orphan,
        "path": "auth/token/create" if record.parent_accessor else "auth/token/root",
        "policies": sorted(record.policies),
        "renewable": record.renewable,
        "ttl": max(0, int(record.expire_time - now)) if record.expire_time else 0,
        "type": "service",
        "namespace_path": namespace_path,
    }


@route(router, "/v1/auth/token/lookup-self", GET=READ)
async def lookup_self(request: Request) -> Response:
    ctx = await context(request)
    ctx.authorize("read")
    assert ctx.caller is not None
    if isinstance(ctx.caller, AgentCaller):
        return respond(ctx.caller.lookup_data())
    return respond(lookup_data(ctx.caller.token, request_token(request) or "", ctx.caller.token_namespace.path))


@route(router, "/v1/auth/token/create", POST=WRITE_CREATE, PUT=WRITE_CREATE)
async def create(request: Request) -> Response:
    ctx = await context(request)
    body = await ctx.body()
    caller = ctx.caller

    def inherited(values: dict) -> None:
        # Policies sent but none left (`[]`, `""`, `" , "`) mean the parent's: the check judges those.
        if "policies" in values and not values["policies"] and isinstance(caller, AdminCaller):
            values["policies"] = list(caller.token.policies)

    values, warnings = ctx.authorize_body("update", body, CREATE, refine=inherited)
    assert caller is not None
    if isinstance(caller, AgentCaller):
        raise bad_request("an agent's JWT cannot create tokens; it is valid for one request at a time")
    parent = caller.token
    if parent.num_uses > 0:  # as in Vault: a child would escape the parent's limit on uses
        raise bad_request("restricted use token cannot generate child tokens")
    if values.get("id"):
        raise bad_request("id: choosing a token's value is not supported; tokens are always generated")
    if values.get("type", "service") not in ("service", ""):
        raise bad_request('type: only "service" tokens are supported')
    if values.get("num_uses", 0) < 0:
        raise bad_request("num_uses: must not be negative")
    requested = values.get("policies") or list(parent.policies)  # canonical, and checked as such (inherited)
    if not parent.is_root:
        extra = sorted(set(requested) - set(parent.policies) - {"default"})
        if extra:
            raise bad_request(
                f"policies: child policies must be a subset of the parent's; not allowed: {', '.join(extra)}"
            )
    if "root" in requested and not parent.is_root:
        raise permission_denied()
    if not values.get("no_default_policy") and "root" not in requested and "default" not in requested:
        requested.append("default")
    if values.get("no_parent") and not parent.is_root:
        raise bad_request("no_parent: only a root token may create orphan tokens")
    now = time.time()
    ttl = values.get("ttl") or values.get("period") or 0
    explicit = values.get("explicit_max_ttl", 0)
    if explicit and (not ttl or ttl > explicit):
        ttl = explicit
    if (not ttl and "root" not in requested) or ttl > MAX_TTL:
        ttl = MAX_TTL
    expire_time = now + ttl if ttl else None
    if parent.expire_time is not None and (expire_time is None or expire_time > parent.expire_time):
        expire_time = parent.expire_time  # a child never outlives its parent
        ttl = max(1, round(expire_time - now))
    token = new_token()
    name = values.get("display_name", "")
    record = TokenRecord(
        id_hash=token_hash(token),
        accessor=new_accessor(),
        namespace_id=ctx.namespace.id,  # as in Vault, a token belongs to the namespace it was created in
        policies=sorted(requested),
        display_name=("token-" + name) if name else "token",
        parent_accessor="" if values.get("no_parent") else parent.accessor,
        meta=values.get("meta", {}),
        creation_time=now,
        expire_time=expire_time,
        creation_ttl=ttl,
        explicit_max_ttl=explicit,
        num_uses=values.get("num_uses", 0),
        renewable=bool(values.get("renewable", False)),
        orphan=bool(values.get("no_parent", False)),
    )
    with ctx.store.write() as tx:
        tx.delete_expired_tokens(now)  # expired tokens are useless; keep the table from growing
        tx.insert_token(record)
    auth = {
        "client_token": token,
        "accessor": record.accessor,
        "policies": record.policies,
        "token_policies": record.policies,
        "identity_policies": None,
        "metadata": record.meta or None,
        "lease_duration": ttl,
        "renewable": record.renewable,
        "entity_id": "",
        "token_type": "service",
        "orphan": record.orphan,
        "mfa_requirement": None,
        "num_uses": record.num_uses,
    }
    return respond(None, auth=auth, warnings=warnings)


def _revoke_tree(ctx: Context, record: TokenRecord) -> None:
    with ctx.store.write() as tx:
        pending = [record]
        while pending:
            current = pending.pop()
            pending.extend(tx.child_tokens(current.accessor))
            tx.delete_token(current.id_hash)


@route(router, "/v1/auth/token/revoke-self", POST=NO_FIELDS_WRITE, PUT=NO_FIELDS_WRITE)
async def revoke_self(request: Request) -> Response:
    ctx = await context(request)
    ctx.authorize("update")
    assert ctx.caller is not None
    if isinstance(ctx.caller, AgentCaller):
        raise bad_request("an agent's JWT is not stored, so there is nothing to revoke; it expires at its exp")
    _revoke_tree(ctx, ctx.caller.token)
    return respond()


@route(router, "/v1/auth/token/lookup", POST=WRITE_TOKEN, PUT=WRITE_TOKEN)
async def lookup(request: Request) -> Response:
    ctx = await context(request)
    values, warnings = ctx.authorize_body("update", await ctx.body(), TOKEN)
    with ctx.store.read() as tx:
        record = tx.token_by_hash(token_hash(values.get("token", "")))
        ns = tx.namespace_by_id(record.namespace_id) if record else None
    if record is None or ns is None or record.expired(time.time()):
        raise bad_request("bad token")
    return respond(lookup_data(record, values["token"], ns.path), warnings=warnings)


@route(router, "/v1/auth/token/revoke", POST=WRITE_TOKEN, PUT=WRITE_TOKEN)
async def revoke(request: Request) -> Response:
    ctx = await context(request)
    values, warnings = ctx.authorize_body("update", await ctx.body(), TOKEN)
    with ctx.store.read() as tx:
        record = tx.token_by_hash(token_hash(values.get("token", "")))
    if record is not None:
        _revoke_tree(ctx, record)
    return respond(warnings=warnings)
