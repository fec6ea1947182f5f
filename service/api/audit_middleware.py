"""Every `/v1/` request is audited: a request entry before the route acts, a response entry before the
answer leaves, and no answer at all (503) when no device could take the request entry.

The entries and their rules are the access layer's (access.audit_trail, shared with gRPC); this ASGI
middleware opens each request's `AccessRecord`, reads small bodies ahead so the request entry can log
them, and holds the answer until its response entry is written. The request entry is written:

- at the route's authorization check (access.authorize), i.e. after the caller is known and decided, and
  before the route reads or changes anything;
- otherwise (public routes such as `sys/health`, requests refused while authenticating, errors before
  the check), here when the answer is ready, together with the response entry. Nothing has been served
  by then, so the failure rule holds: the answer is replaced by the 503.

If no device takes the response entry, the answer is withheld (503) rather than sent unaudited.
"""

from __future__ import annotations

import json
from typing import Any

from .. import request_id
from ..access.audit_trail import AccessRecord, write_final_entries
from ..access.tokens import ConflictingTokens, presented_token, scope_headers
from ..audit import entry as e
from ..audit.log import REQUEST_NOT_SERVED, RESPONSE_WITHHELD, AuditLog

MAX_AUDITED_REQUEST_BODY = 64 * 1024  # read ahead for the request entry; larger bodies are not logged
MAX_AUDITED_RESPONSE_BODY = 1 << 20
RECORD = "vg_audit"  # the request's AccessRecord in scope["state"]


def access_record(scope: dict) -> AccessRecord:
    """This request's record: the one the audit middleware opened, or (no audit device) a new one; with
    what the Vault path middleware learnt of the request."""
    state = scope.setdefault("state", {})
    record = state.get(RECORD)
    if record is None:
        record = state[RECORD] = open_record(scope)
    complete_from_scope(record, scope)
    return record


def open_record(scope: dict) -> AccessRecord:
    client = scope.get("client") or ("", None)
    return AccessRecord(
        id=request_id.start(),
        token=_presented_token(scope),
        remote_address=str(client[0] or ""),
        remote_port=client[1],
    )


class AuditMiddleware:
    """Pure ASGI: holds each answer until it is audited. Sits inside the metrics middleware and outside
    the Vault path middleware, so even requests that middleware refuses are audited."""

    def __init__(self, app: Any, audit: AuditLog):
        self.app = app
        self.audit = audit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.audit.enabled or not scope["path"].startswith("/v1/"):
            return await self.app(scope, receive, send)
        record = open_record(scope)
        scope.setdefault("state", {})[RECORD] = record
        if _declares_body(scope):
            receive = await _read_ahead(receive, record)
        held: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def hold(message: dict) -> None:
            if message["type"] == "http.response.start":
                held.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    await self._answer(scope, record, held, b"".join(chunks), send)
            else:
                await send(message)

        try:
            await self.app(scope, receive, hold)
        except Exception:
            # The server's error handler answers 500 outside this middleware; log that answer here.
            if not record.answered and not record.failed:
                self._log_final(scope, record, 500, {"errors": ["internal error"]})
            raise

    async def _answer(self, scope: dict, record: AccessRecord, start: dict, body: bytes, send: Any) -> None:
        record.answered = True
        if record.failed:
            return await _send_error(send, REQUEST_NOT_SERVED)
        outcome = self._log_final(scope, record, int(start.get("status", 500)), _json_body(start, body))
        if outcome == "request_failed":
            return await _send_error(send, REQUEST_NOT_SERVED)
        if outcome == "response_failed":
            return await _send_error(send, RESPONSE_WITHHELD)
        await send(start)
        await send({"type": "http.response.body", "body": body, "more_body": False})

    def _log_final(self, scope: dict, record: AccessRecord, status: int, parsed: Any) -> str:
        complete_from_scope(record, scope)
        # Without a token there is no caller to show data to: the cheap path keeps no response data.
        return write_final_entries(self.audit, record, status, parsed, include_data=bool(record.token))


def complete_from_scope(record: AccessRecord, scope: dict) -> None:
    """The path, namespace and operation as the Vault path middleware left them in the scope."""
    state = scope.get("state", {})
    if record.path is None:
        record.path = state.get("vg_path", scope["path"][len("/v1/") :])
    if record.namespace is None:
        record.requested_namespace = state.get("vg_namespace_path", "")
    record.implied_operation = e.operation_for(scope.get("method", "GET"), bool(state.get("vg_list")))


def _presented_token(scope: dict) -> str:
    """The token by the rule authentication uses; "" when conflicting tokens were refused (no one's)."""
    try:
        return presented_token(scope_headers(scope))
    except ConflictingTokens:
        return ""


def _declares_body(scope: dict) -> bool:
    """A body small enough to log, by its declared length. Larger or undeclared (chunked) bodies are not
    read ahead: the route may refuse them unread (413 on the declared length) and they are not logged."""
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            value = value.strip()
            return value.isdigit() and 0 < int(value) <= MAX_AUDITED_REQUEST_BODY
    return False


async def _read_ahead(receive: Any, record: AccessRecord) -> Any:
    """Read up to MAX_AUDITED_REQUEST_BODY of the body now (the request entry may be written before the
    route reads it), then hand the same messages to the route, followed by the rest of the stream."""
    messages: list[dict] = []
    size, more = 0, True
    while more and size <= MAX_AUDITED_REQUEST_BODY:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        more = bool(message.get("more_body", False))
    if not more and size <= MAX_AUDITED_REQUEST_BODY and messages[-1]["type"] == "http.request":
        record.data = _json_object(b"".join(m.get("body", b"") for m in messages))

    async def replay() -> dict:
        if messages:
            return messages.pop(0)
        return await receive()

    return replay


def _json_object(body: bytes | None) -> Any:
    if not body:
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _json_body(start: dict, body: bytes) -> Any:
    if not body or len(body) > MAX_AUDITED_RESPONSE_BODY:
        return None
    for key, value in start.get("headers", ()):
        if key.lower() == b"content-type" and not value.startswith(b"application/json"):
            return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


async def _send_error(send: Any, message: str) -> None:
    body = json.dumps({"errors": [message]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
