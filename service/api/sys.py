"""Unauthenticated status routes, metrics and `sys/capabilities-self`."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response

from vaultguard.rules.features import ACTIVATION_FLAGS

from ..access.agents import AgentCaller
from ..errors import bad_request
from ..version import VAULT_COMPAT_VERSION
from . import fields as f
from .deps import context
from .envelope import respond
from .metrics import render
from .operations import NO_FIELDS_WRITE, Operation, Query, route

router = APIRouter()

CLUSTER_NAME = "vaultguard"
STATUS = Operation(answer="status", public=True)
CAPABILITIES = f.Body({"paths": f.Field("strings", 4096), "path": f.Field("strings", 4096)})
WRITE_CAPABILITIES = Operation(body=CAPABILITIES)
# Vault's clients ask for `?format=prometheus`; it is the only format, so the parameter changes nothing.
FORMAT = Query("format", {"type": "string", "enum": ["prometheus"]}, "Prometheus text, the only format")
METRICS = Operation(query=(FORMAT,), answer="text")


def _status(request: Request) -> dict:
    return {
        "initialized": True,
        "sealed": False,
        "standby": False,
        "performance_standby": False,
        "replication_performance_mode": "disabled",
        "replication_dr_mode": "disabled",
        "server_time_utc": int(time.time()),
        "version": VAULT_COMPAT_VERSION,
        "enterprise": True,
        "cluster_name": CLUSTER_NAME,
        "cluster_id": request.app.state.cluster_id,
    }


@route(router, "/v1/sys/health", GET=STATUS, HEAD=STATUS)
async def health(request: Request) -> Response:
    from fastapi.responses import JSONResponse

    return JSONResponse(_status(request))


@route(router, "/v1/sys/init", GET=STATUS)
async def init_status() -> Response:
    """Vault clients (hvac's `sys.is_initialized`) ask this; the service is initialized from the start."""
    from fastapi.responses import JSONResponse

    return JSONResponse({"initialized": True})


@route(router, "/v1/sys/seal-status", GET=STATUS)
async def seal_status(request: Request) -> Response:
    from fastapi.responses import JSONResponse

    body = {
        "type": "shamir",
        "initialized": True,
        "sealed": False,
        "t": 1,
        "n": 1,
        "progress": 0,
        "nonce": "",
        "version": VAULT_COMPAT_VERSION,
        "build_date": "",
        "migration": False,
        "cluster_name": CLUSTER_NAME,
        "cluster_id": request.app.state.cluster_id,
        "recovery_seal": False,
        "storage_type": request.app.state.store.dialect,
    }
    return JSONResponse(body)


@route(router, "/v1/sys/metrics", GET=METRICS)
async def metrics(request: Request) -> Response:
    ctx = await context(request)
    ctx.authorize("read")
    body, media_type = render()
    return Response(body, media_type=media_type)


@route(router, "/v1/sys/capabilities-self", POST=WRITE_CAPABILITIES, PUT=WRITE_CAPABILITIES)
async def capabilities_self(request: Request) -> Response:
    ctx = await context(request)
    values, warnings = ctx.authorize_body("update", await ctx.body(), CAPABILITIES)
    assert ctx.caller is not None
    paths = values.get("paths") or values.get("path") or []
    data: dict = {}
    for path in paths:
        if isinstance(ctx.caller, AgentCaller):
            caps = sorted(ctx.caller.capabilities(path.lstrip("/")))
        elif ctx.caller.token.is_root:
            caps = ["root"]
        else:
            caps = sorted(ctx.caller.acl.capabilities(ctx.caller.acl_path(ctx.namespace, path.lstrip("/"))))
        data[path] = caps
    if len(paths) == 1:
        data["capabilities"] = data[paths[0]]
    return respond(data, warnings=warnings, extra=data)


# ---- activation flags ----------------------------------------------------------------------------------
# Root namespace only, and no deactivation, as in Vault. The flags are fixed (version.ACTIVATION_FLAGS, all
# active); activating one of them succeeds and changes nothing, activating anything else is refused rather
# than pretended.


def _flags() -> dict:
    return {"activated": list(ACTIVATION_FLAGS), "unactivated": []}


@route(router, "/v1/sys/activation-flags", GET=Operation(public=True))
async def activation_flags() -> Response:
    """Unauthenticated, as in Vault: which gated features are active."""
    return respond(_flags())


@route(router, "/v1/sys/activation-flags/{feature}/activate", PUT=NO_FIELDS_WRITE, POST=NO_FIELDS_WRITE)
async def activate_flag(feature: str, request: Request) -> Response:
    ctx = await context(request)
    ctx.authorize("update")
    if ctx.namespace.path:
        raise bad_request("sys/activation-flags is only available in the root namespace")
    if feature not in ACTIVATION_FLAGS:
        known = ", ".join(f'"{name}"' for name in ACTIVATION_FLAGS)
        raise bad_request(
            f'feature: "{feature}" is not an activation flag of this server; the flags it has are {known} '
            "(always active)"
        )
    return respond(_flags())
