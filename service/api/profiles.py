"""`sys/config/oauth-resource-server` routes (DECISIONS.md#d28, DECISIONS.md#d29): profiles of trusted JWT issuers."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from ..authn.keys import MAX_CA_BUNDLE_BYTES
from ..authn.profiles import (
    ProfileValidationError,
    apply_profile_write,
    duplicate_issuer_error,
    normalize_issuer,
)
from ..errors import ApiError, bad_request, invalid_field, not_found, unsupported_operation
from ..storage.store import Tx, UniqueViolation
from . import fields as f
from .deps import Context, context
from .envelope import list_response, respond
from .operations import DELETE, LISTS, READ, Operation, route

router = APIRouter()

PROFILE = f.Body(
    {
        "issuer_id": f.Field("issuer", 2048),
        "local": f.Field("bool"),
        "use_jwks": f.Field("bool"),
        "jwks_uri": f.Field("string", 2048),
        "jwks_ca_pem": f.Field("string", MAX_CA_BUNDLE_BYTES),
        "public_keys": f.Field("objects"),
        "audiences": f.Field("strings", 2048),
        "no_default_policy": f.Field("bool"),
        "optional_authorization_details": f.Field("bool"),
        "user_claim": f.Field("string", 256),
        "supported_algorithms": f.Field("strings", 32),
        "jwt_type": f.Field("string", 64),
        "clock_skew_leeway": f.Field("duration"),
        "enabled": f.Field("bool"),
        "unique_id_claim": f.Field("string", 256),
        "actor_claim": f.Field("string", 256),
        "groups_claim": f.Field("string", 256),
    }
)
WRITE = Operation(body=PROFILE)
BASE = "/v1/sys/config/oauth-resource-server"


@route(router, BASE, GET=LISTS)
@route(router, BASE + "/", GET=LISTS)
async def list_profiles(request: Request) -> Response:
    ctx = await context(request)
    if not ctx.is_list:
        raise not_found()
    ctx.authorize("list")
    with ctx.store.read() as tx:
        names = sorted(p.name for p in tx.profiles(ctx.namespace.id))
    return list_response(names)


@route(router, BASE + "/id/{config_id}", GET=READ)
async def read_by_config_id(config_id: str, request: Request) -> Response:
    ctx = await context(request)
    ctx.authorize("read")
    with ctx.store.read() as tx:
        profile = tx.profile_by_config_id(ctx.namespace.id, config_id)
    if profile is None:
        raise not_found("profile not found")
    return respond(profile.to_api())


@route(router, BASE + "/{name}", GET=READ)
async def read_profile(name: str, request: Request) -> Response:
    ctx = await context(request)
    # LIST is a collection operation: never list the collection under an item's ACL path
    if ctx.is_list:
        raise unsupported_operation()
    ctx.authorize("read")
    with ctx.store.read() as tx:
        profile = tx.profile_by_name(ctx.namespace.id, name)
    if profile is None:
        raise not_found("profile not found")
    return respond(profile.to_api())


@route(router, BASE + "/{name}", POST=WRITE, PUT=WRITE)
async def write_profile(name: str, request: Request) -> Response:
    ctx = await context(request)
    body = await ctx.body()
    with ctx.store.read() as tx:
        exists = tx.profile_by_name(ctx.namespace.id, name) is not None
    values, warnings = ctx.authorize_body("update" if exists else "create", body, PROFILE)
    more = _save(ctx, name, values)
    return respond(warnings=warnings + more)


def _save(ctx: Context, name: str, values: dict) -> list[str]:
    """Create or update in one transaction; returns the profile's warnings.

    A write that lost a race to a concurrent one (a database constraint fired) runs once more, so the
    up-front checks see the winner and the caller gets the documented duplicate-issuer message.
    """

    def action(tx: Tx) -> list[str]:
        existing = tx.profile_by_name(ctx.namespace.id, name)
        profile, warnings = apply_profile_write(
            existing, values, name=name, namespace_id=ctx.namespace.id, new_config_id=lambda: str(uuid.uuid4())
        )
        for other in tx.profiles_by_issuer(ctx.namespace.id, profile.issuer_id):
            if other.config_id != profile.config_id and other.local == profile.local:
                raise duplicate_issuer_error(profile.issuer_id, other.name)
        if existing is None:
            tx.insert_profile(profile)
        else:
            tx.update_profile(profile)
        return warnings

    try:
        return ctx.store.write_retrying(action)
    except ProfileValidationError as exc:
        raise ApiError(400, *exc.errors, fields=exc.fields) from None
    except UniqueViolation as exc:
        if exc.constraint == "uq_profiles_issuer_id":
            issuer = normalize_issuer(values.get("issuer_id", ""))
            message = f'duplicate issuer_id "{issuer}": another profile in this namespace uses it'
            raise invalid_field("issuer_id", message) from None
        raise bad_request(f'profile "{name}" was written concurrently; retry the write') from None


@route(router, BASE + "/{name}", DELETE=DELETE)
async def delete_profile(name: str, request: Request) -> Response:
    ctx = await context(request)
    ctx.authorize("delete")
    with ctx.store.write() as tx:
        profile = tx.profile_by_name(ctx.namespace.id, name)
        if profile is not None:
            tx.delete_profile(profile.config_id)
    return respond()  # DECISIONS.md#d16: 204 also when absent
