"""The application factory: `create_app(settings)` wires storage, routes and Vault-style errors."""

from __future__ import annotations

import gc
import inspect
import logging
import os
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from .access.callers import AccessServices
from .access.policy_cache import PolicyCache
from .api import groups, identity, kv, namespaces, policies, profiles, registry, sys, tokens
from .api.audit_hash import router as audit_hash_router
from .api.audit_middleware import AuditMiddleware
from .api.decision_api import router as decision_api_router
from .api.metrics import MetricsMiddleware
from .api.middleware import VaultPathMiddleware
from .api.operations import serve_document
from .api.route_table import RouteTable
from .audit.log import AuditLog
from .authn.jwks import JwksCache
from .authn.jwt import JWTValidator
from .config import Settings, jwks_fetch_policy
from .errors import ApiError
from .storage.changes import NodeGeneration
from .storage.directory import Directory
from .storage.sealing import load_keyring, open_data_key
from .storage.store import Store, Unavailable
from .version import VERSION

log = logging.getLogger("vaultguard")

# Newer FastAPI releases send request spans (with secret paths and namespaces) and exception messages to any
# OpenTelemetry provider found in the process, and check for one on every request. What this service reveals
# is decided here: the audit log and /v1/sys/metrics. So the framework's own telemetry is off where it exists.
_NO_FRAMEWORK_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


# The routers in the order their routes are tried: the first route whose path and method both match serves a
# request, both in the framework's router and in api.route_table.
ROUTERS = (
    kv.router, sys.router, decision_api_router, tokens.router, policies.router, namespaces.router,
    identity.router, groups.router, registry.router, profiles.router, audit_hash_router,
)  # fmt: skip


def create_app(settings: Settings, store: Store | None = None) -> FastAPI:
    """A ready application; the store's schema must already be migrated (the server does it at start)."""
    app = FastAPI(
        title="vaultguard",
        version=VERSION,
        description="Vault-compatible API for AI agent registrations and OAuth resource server profiles.",
        docs_url="/ui/docs",
        redoc_url=None,
        openapi_url="/v1/sys/openapi.json",
        **_NO_FRAMEWORK_TELEMETRY,
    )
    app.state.settings = settings
    changes = NodeGeneration(settings.local_changes_file) if settings.local_changes_file else None
    if store is None:
        store = Store(settings.storage_url, changes=changes)
        store.cipher = open_data_key(store, load_keyring(settings.encryption_key_file))  # made by the server's start
    app.state.store = store
    app.state.policy_cache = PolicyCache()
    app.state.directory = Directory(app.state.store, replica_bound=settings.replica_propagation_bound)
    # The header-size check (DECISIONS.md#d17) runs first at the HTTP layer; -1 disables it, so fall back to 1 MiB here.
    token_limit = settings.max_token_header_size if settings.max_token_header_size > 0 else 1 << 20
    jwks = JwksCache(fetch_policy=jwks_fetch_policy(settings))
    app.state.jwt_validator = JWTValidator(jwks=jwks, max_token_bytes=token_limit)
    app.state.cluster_id = str(uuid.uuid5(uuid.NAMESPACE_URL, settings.storage_url))
    app.state.audit = AuditLog.from_settings(settings, app.state.store)
    # What the access layer reads, shared by this worker's transports (HTTP routes, the decision API, gRPC).
    app.state.access = AccessServices(store, app.state.directory, app.state.jwt_validator, app.state.policy_cache)

    for router in ROUTERS:
        app.include_router(router)
    serve_document(app)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return api_error(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Raised by the router: 405 when the path exists with other methods, 404 when nothing matches.
        if exc.status_code == 405:
            return JSONResponse({"errors": ["1 error occurred:\n\t* unsupported operation\n\n"]}, status_code=405)
        if exc.status_code == 404:
            rest = request.scope.get("state", {}).get("vg_path", request.url.path)
            return JSONResponse({"errors": [f'no handler for route "{rest}". route entry not found.']}, status_code=404)
        return JSONResponse({"errors": [str(exc.detail)]}, status_code=exc.status_code)

    @app.exception_handler(Unavailable)
    async def _unavailable(_request: Request, exc: Unavailable) -> JSONResponse:
        return unavailable(exc)

    @app.exception_handler(Exception)
    async def _internal(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error")
        return JSONResponse({"errors": ["internal error"]}, status_code=500)

    # A trailing "/" no route takes is served by the route without it, in the request's namespace; the
    # router's own redirect would send the client to a URL without the namespace prefix (docs/api.md).
    app.router.redirect_slashes = False
    app.add_middleware(TrailingSlash, routes=app.router.routes)  # innermost: sees namespace-relative paths
    app.add_middleware(DirectDispatch, table=RouteTable(ROUTERS))
    app.add_middleware(VaultPathMiddleware)
    app.add_middleware(AuditMiddleware, audit=app.state.audit)  # outside the path rules: audits their refusals
    app.add_middleware(MetricsMiddleware)  # added last = outermost: sees every response
    if settings.grpc_listen:
        from .grpc_server import serve_beside  # the gRPC decision API, in each worker beside this app

        serve_beside(app)
    return app


def api_error(exc: ApiError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


def unavailable(exc: Unavailable) -> JSONResponse:
    log.error("storage unavailable: %s", exc)
    return JSONResponse({"errors": ["storage is temporarily unavailable; retry"]}, status_code=503)


class TrailingSlash:
    """`/v1/<path>/` that no route takes, when a route takes `/v1/<path>`: served as `<path>` (the path the
    ACL check, the route and the audit log then see), never redirected. Vault's paths have no route that
    differs from another by a trailing slash alone, except LIST paths, which routes declare with their
    slash and so are never rewritten."""

    def __init__(self, app: Any, routes: list):
        self.app = app
        self.routes = routes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # lifespan events have no path
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path.startswith("/v1/") and path.endswith("/") and not self._taken(scope):
            trimmed = {**scope, "path": path.rstrip("/")}
            if self._taken(trimmed):
                scope["path"] = trimmed["path"]
                scope["raw_path"] = scope["path"].encode("utf-8", "surrogateescape")
                state = scope.setdefault("state", {})
                if "vg_path" in state:
                    state["vg_path"] = state["vg_path"].rstrip("/")
        await self.app(scope, receive, send)

    def _taken(self, scope: dict) -> bool:
        return any(route.matches(scope)[0] != Match.NONE for route in self.routes)


class DirectDispatch:
    """Serves each request the route table finds (api.route_table) with its route function, with the
    errors and audit entries the router's path would give; anything else goes on to the router."""

    def __init__(self, app: Any, table: RouteTable):
        self.app = app
        self.table = table

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        found = self.table.find(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if found is None:
            return await self.app(scope, receive, send)
        try:
            response = await found.call(scope, receive)
        except ApiError as exc:
            response = api_error(exc)
        except Unavailable as exc:
            response = unavailable(exc)
        await response(scope, receive, send)


def app_from_env() -> FastAPI:
    """Factory used by uvicorn workers: settings arrive as JSON in VAULTGUARD_SETTINGS."""
    app = create_app(Settings.from_env(os.environ["VAULTGUARD_SETTINGS"]))
    # Everything loaded so far (modules, routes, schemas) lives as long as the worker: taking it out of the
    # cycle collector's reach turns its full collections from ~100 ms pauses into ~1 ms ones (p99 latency).
    gc.freeze()
    return app
