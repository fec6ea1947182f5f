"""gRPC front end of the decision API: `vaultguard.decision.v1.DecisionService/Check`.

It runs inside each HTTP worker process, on that worker's event loop, beside the FastAPI app and with the
same storage, JWT validator, directory, policy cache and audit log (several workers share the port through
SO_REUSEPORT, as they share the HTTP socket). The caller goes through the access layer (access.layer) as an
HTTP request does: its token from `x-vault-token` (or `authorization: Bearer`) metadata by the same rule,
`update` on `sys/authorize` in the request's namespace, a use counted for a limited-use token. The
evaluation is `decision_query.evaluate_query`, the code behind `POST /v1/sys/authorize`.

Every call is audited like an HTTP request to `sys/authorize` (request and response entries, with
`request.transport` = "grpc" and the gRPC status in `response.grpc_status`, and the evaluation entry for the
agent token asked about); a call that cannot be audited is answered UNAVAILABLE. No web framework here.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format

from . import request_id
from .access.audit_trail import AccessRecord, write_final_entries
from .access.callers import AccessServices
from .access.layer import authorize, caller_token, identify
from .api.decision_query import DECISION_PATH, evaluate_query, parse_query
from .audit.log import REQUEST_NOT_SERVED, RESPONSE_WITHHELD, AuditLog
from .config import Settings
from .errors import ApiError
from .storage.store import Unavailable

log = logging.getLogger("vaultguard.grpc")

TOKEN_METADATA = "x-vault-token"
STOP_GRACE_SECONDS = 2.0
_CODES = {400: grpc.StatusCode.INVALID_ARGUMENT, 403: grpc.StatusCode.PERMISSION_DENIED,
          503: grpc.StatusCode.UNAVAILABLE}  # fmt: skip
UNAVAILABLE_STORAGE = "storage is temporarily unavailable; retry"


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


class Refusal(Exception):
    """A call answered with an error: the gRPC status, its message, and the HTTP status the audit log shows."""

    def __init__(self, code: grpc.StatusCode, message: str, status: int):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class DecisionServicer:
    """`Check`: authenticate and authorize the caller, read the question, answer it; audit all of it."""

    def __init__(self, services: AccessServices, audit: AuditLog, messages: Any, max_token_size: int):
        self.services = services
        self.audit = audit
        self.messages = messages
        self.max_token_size = max_token_size

    async def Check(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802 - gRPC's name
        record = _record(request, context)
        try:
            answer = await self._check(request, context, record)
        except Refusal as refusal:
            status, body, answer = refusal.status, {"errors": [refusal.message]}, refusal
        else:
            status = 200
            body = {"allowed": answer.allowed, "reason": answer.reason, "capabilities": list(answer.capabilities)}
        if record.failed:  # the request entry could not be written: nothing was served
            await context.abort(grpc.StatusCode.UNAVAILABLE, REQUEST_NOT_SERVED)
        outcome = write_final_entries(self.audit, record, status, body, include_data=bool(record.token),
                                      extra={"grpc_status": _code(answer).name})  # fmt: skip
        if outcome != "ok":
            message = REQUEST_NOT_SERVED if outcome == "request_failed" else RESPONSE_WITHHELD
            await context.abort(grpc.StatusCode.UNAVAILABLE, message)
        if isinstance(answer, Refusal):
            await context.abort(answer.code, answer.message)
        return answer

    async def _check(self, request: Any, context: grpc.aio.ServicerContext, record: AccessRecord) -> Any:
        try:
            token = caller_token(record, context.invocation_metadata() or (), self.max_token_size)
            if not token:
                record.refusal = "token_missing"
                raise Refusal(grpc.StatusCode.UNAUTHENTICATED, f"missing {TOKEN_METADATA} metadata", 403)
            namespace, caller = await identify(self.services, record, record.requested_namespace, token)
            authorize(self.audit, record, caller, namespace, DECISION_PATH, "update")
            query, _warnings = parse_query(record.data)
            result = await evaluate_query(self.services, self.audit, record, namespace, query)
        except ApiError as exc:
            raise Refusal(_CODES.get(exc.status, grpc.StatusCode.INTERNAL), "; ".join(exc.errors), exc.status) from None
        except Unavailable as exc:
            log.error("storage unavailable: %s", exc)
            raise Refusal(grpc.StatusCode.UNAVAILABLE, UNAVAILABLE_STORAGE, 503) from None
        return self.messages.CheckResponse(
            allowed=result.decision.allowed, reason=result.decision.reason, capabilities=list(result.capabilities)
        )


def _record(request: Any, context: grpc.aio.ServicerContext) -> AccessRecord:
    """The call's audit record: a `sys/authorize` update in the request's namespace, from the peer."""
    host, port = _peer(context.peer() or "")
    body: dict[str, Any] = {"token": request.token, "operation": request.operation, "path": request.path}
    if request.HasField("parameters"):
        body["parameters"] = json_format.MessageToDict(request.parameters)
    return AccessRecord(
        id=request_id.start(),
        transport="grpc",
        path=DECISION_PATH,
        requested_namespace=request.namespace.strip("/"),
        implied_operation="update",
        remote_address=host,
        remote_port=port,
        data=body,
    )


def _peer(peer: str) -> tuple[str, int | None]:
    """("127.0.0.1", 5000) from gRPC's "ipv4:127.0.0.1:5000" (or "ipv6:[::1]:5000"); unix peers have no port."""
    kind, _, address = peer.partition(":")
    if kind not in ("ipv4", "ipv6"):
        return address or peer, None
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port) if port.isdigit() else None


def _code(answer: Any) -> grpc.StatusCode:
    return answer.code if isinstance(answer, Refusal) else grpc.StatusCode.OK


async def start(settings: Settings, services: AccessServices, audit: AuditLog) -> grpc.aio.Server:
    """Start the gRPC server on `settings.grpc_listen`; raises RuntimeError when it cannot listen."""
    messages, services_module = _stubs()
    options = [
        ("grpc.max_receive_message_length", settings.max_request_size),
        # Room above the token size limit for the rest of the metadata, so an oversized token reaches the
        # access layer (a named, audited refusal) instead of gRPC's own unaudited RESOURCE_EXHAUSTED.
        ("grpc.max_metadata_size", max(settings.max_token_header_size, 8192) + 8192),
        # Each worker listens on the same port; the kernel spreads connections across them.
        ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),
    ]
    server = grpc.aio.server(options=options)
    servicer = DecisionServicer(services, audit, messages, settings.max_token_header_size)
    services_module.add_DecisionServiceServicer_to_server(servicer, server)
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
            shared = app.state
            server = await start(shared.settings, shared.access, shared.audit)
            try:
                yield state
            finally:
                await server.stop(STOP_GRACE_SECONDS)

    app.router.lifespan_context = lifespan
