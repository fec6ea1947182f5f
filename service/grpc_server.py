"""gRPC front end of the decision API: `vaultguard.decision.v1.DecisionService/Check`.

It runs inside each HTTP worker process, on that worker's event loop, beside the FastAPI app and with the
same storage, JWT validator, directory and policy cache (several workers share the port through
SO_REUSEPORT, as they share the HTTP socket). The evaluation is `api.check.check`, the very code behind
`POST /v1/sys/authorize`; no web framework is involved here.

The caller authenticates with a token in the `x-vault-token` metadata and needs `update` on `sys/authorize`
in the request's namespace, the rule of the HTTP route.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format

from .access.tokens import ConflictingTokens, presented_token
from .api.check import DECISION_PATH, DecisionServices, asker_may, check, namespace_at, parse_query
from .api.errors import ApiError
from .config import Settings
from .storage.store import Unavailable

log = logging.getLogger("vaultguard.grpc")

TOKEN_METADATA = "x-vault-token"
STOP_GRACE_SECONDS = 2.0


def _stubs() -> tuple[Any, Any]:
    """The generated modules (imported only when a gRPC listener is configured)."""
    try:
        from vaultguard.proto.decision.v1 import decision_pb2, decision_pb2_grpc
    except ImportError as exc:
        raise RuntimeError(
            "the gRPC stubs are missing: they are generated when vaultguard is built or installed "
            f"(pip install -e . runs grpcio-tools): {exc}"
        ) from None
    return decision_pb2, decision_pb2_grpc


class DecisionServicer:
    """`Check`: authenticate and authorize the caller, read the question, answer it."""

    def __init__(self, services: DecisionServices, messages: Any):
        self.services = services
        self.messages = messages

    async def Check(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802 - gRPC's name
        try:
            return await self._check(request, context)
        except Unavailable as exc:
            log.error("storage unavailable: %s", exc)
            await context.abort(grpc.StatusCode.UNAVAILABLE, "storage is temporarily unavailable; retry")

    async def _check(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:  # the rule HTTP uses: x-vault-token, else authorization: Bearer; two different ones refused
            asker = presented_token(context.invocation_metadata() or ())
        except ConflictingTokens as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        if not asker:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, f"missing {TOKEN_METADATA} metadata")
        namespace = namespace_at(self.services.store, request.namespace)
        # An unknown namespace answers like a bad token, as over HTTP: which namespaces exist is not said.
        if namespace is None or not await asker_may(self.services, namespace, asker, "update", DECISION_PATH):
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "permission denied")
        body: dict[str, Any] = {"token": request.token, "operation": request.operation, "path": request.path}
        if request.HasField("parameters"):
            body["parameters"] = json_format.MessageToDict(request.parameters)
        try:
            query, _warnings = parse_query(body)
        except ApiError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "; ".join(exc.errors))
        result = await check(self.services, namespace, query)
        return self.messages.CheckResponse(
            allowed=result.decision.allowed, reason=result.decision.reason, capabilities=list(result.capabilities)
        )


async def start(settings: Settings, services: DecisionServices) -> grpc.aio.Server:
    """Start the gRPC server on `settings.grpc_listen`; raises RuntimeError when it cannot listen."""
    messages, services_module = _stubs()
    options = [
        ("grpc.max_receive_message_length", settings.max_request_size),
        # Each worker listens on the same port; the kernel spreads connections across them.
        ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),
    ]
    server = grpc.aio.server(options=options)
    services_module.add_DecisionServiceServicer_to_server(DecisionServicer(services, messages), server)
    if settings.grpc_tls_cert_file:
        key = Path(settings.grpc_tls_key_file).read_bytes()
        chain = Path(settings.grpc_tls_cert_file).read_bytes()
        port = server.add_secure_port(settings.grpc_listen, grpc.ssl_server_credentials([(key, chain)]))
    else:
        port = server.add_insecure_port(settings.grpc_listen)
    if not port:
        raise RuntimeError(f"gRPC listener: cannot listen on {settings.grpc_listen}")
    await server.start()
    return server


def serve_beside(app: Any) -> None:
    """Run the gRPC server for the lifetime of `app` (a FastAPI/Starlette app) in this worker: started after
    the app's own start-up, stopped before its shut-down."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(asgi_app: Any) -> AsyncIterator[Any]:
        async with inner(asgi_app) as state:
            server = await start(app.state.settings, DecisionServices.from_state(app.state))
            try:
                yield state
            finally:
                await server.stop(STOP_GRACE_SECONDS)

    app.router.lifespan_context = lifespan
