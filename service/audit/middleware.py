"""Every `/v1/` request is audited: a request entry before the route acts, a response entry before the
answer leaves, and no answer at all (503) when no device could take the request entry.

Where the request entry is written:

- at the route's authorization check (`audit_request`, called by `Context.authorize`), i.e. after the
  caller is known and decided, and before the route reads or changes anything;
- otherwise (public routes such as `sys/health`, requests refused while authenticating, errors before
  the check), by the middleware when the answer is ready, together with the response entry. Nothing has
  been served by then, so the failure rule holds: the answer is replaced by the 503.

The answer is held until its response entry is written; if no device takes that either, the answer is
withheld (503) rather than sent unaudited.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from .. import request_id
from ..access.tokens import ConflictingTokens, scope_token
from ..api.agents import AgentCaller
from ..api.errors import ApiError
from ..authz.acl import ACLResult
from ..identity.model import ROOT_NAMESPACE_ID
from ..memo import BoundedMemo
from ..storage.store import Store
from . import entry as e
from .devices import Broker, device_from_settings
from .hashing import Hasher
from .key import load_or_create_key

log = logging.getLogger("vaultguard.audit")

REQUEST_NOT_SERVED = "audit logging failed; the request was not served"
RESPONSE_WITHHELD = "audit logging failed; the response was withheld"
MAX_AUDITED_REQUEST_BODY = 64 * 1024  # read ahead for the request entry; larger bodies are not logged
MAX_AUDITED_RESPONSE_BODY = 1 << 20


class AuditFailed(ApiError):
    """No audit device took the request entry: the route must not run."""

    def __init__(self) -> None:
        super().__init__(503, REQUEST_NOT_SERVED)


class AuditLog:
    """The server's audit devices and its HMAC key (read from storage on first use, per process)."""

    def __init__(self, store: Store, devices: list):
        self.store = store
        self.broker = Broker(devices)
        self._hasher: Hasher | None = None
        self._lock = threading.Lock()
        # (agent caller, decision) -> the auth block and its JSON; see _agent_auth.
        self.agent_blocks: BoundedMemo[tuple[int, int], tuple[AgentCaller, Any, dict[str, Any], str]] = BoundedMemo(
            MAX_AGENT_BLOCKS
        )

    @classmethod
    def from_settings(cls, settings: Any, store: Store) -> AuditLog:
        return cls(store, [device_from_settings(spec) for spec in settings.audit_devices])

    @property
    def enabled(self) -> bool:
        return bool(self.broker)

    def hasher(self) -> Hasher:
        if self._hasher is None:
            with self._lock:
                if self._hasher is None:
                    self._hasher = Hasher(load_or_create_key(self.store))
        return self._hasher

    def write(self, *entries: dict[str, Any], memo: dict | None = None) -> bool:
        return self.broker.write(e.encode(*entries, memo=memo))


@dataclass
class AuditRecord:
    """One request's audit state, kept in `scope["state"]["vg_audit"]`."""

    id: str
    body: bytes | None = None  # the request body, when complete and small enough to log
    operation: str | None = None  # the operation the route authorized
    acl_result: ACLResult | None = None
    authorized: bool = False  # the route reached its authorization check
    request_block: dict[str, Any] | None = None
    auth: dict[str, Any] | None = None  # the last auth block, reused while its inputs stay the same
    auth_inputs: tuple = ()
    encoded: dict = field(default_factory=dict)  # JSON of the blocks both entries share (entry.encode)
    agent_blocks: BoundedMemo = field(default_factory=lambda: BoundedMemo(MAX_AGENT_BLOCKS))  # AuditLog's, shared
    request_logged: bool = False
    failed: bool = False
    answered: bool = False


def audit_request(request: Any, operation: str, acl_result: ACLResult | None = None) -> None:
    """Write the request entry at the route's authorization check; raise AuditFailed (503) when no
    device takes it. `acl_result` is the admin token's ACL evaluation (None for root and for agents,
    whose `Decision` is on `request.state.vg_decision`)."""
    scope = request.scope
    record: AuditRecord | None = scope.get("state", {}).get("vg_audit")
    if record is None:
        return
    record.authorized = True
    record.operation = operation
    record.acl_result = acl_result
    if record.request_logged:
        return
    audit: AuditLog = request.app.state.audit
    try:
        hasher = audit.hasher()
        auth, block, error = _describe(scope, record, hasher, status=None)
        ok = audit.write(e.request_entry(auth, block, error), memo=record.encoded)
    except Exception:
        log.exception("audit: building the request entry failed")
        ok = False
    if not ok:
        record.failed = True
        raise AuditFailed()
    record.request_logged = True


class AuditMiddleware:
    """Pure ASGI: holds each answer until it is audited. Sits inside the metrics middleware and outside
    the Vault path middleware, so even requests that middleware refuses are audited."""

    def __init__(self, app: Any, audit: AuditLog):
        self.app = app
        self.audit = audit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.audit.enabled or not scope["path"].startswith("/v1/"):
            return await self.app(scope, receive, send)
        record = AuditRecord(id=request_id.start(), agent_blocks=self.audit.agent_blocks)
        scope.setdefault("state", {})["vg_audit"] = record
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
                self._log_final(scope, record, 500, {"errors": ["internal error"]}, include_data=False)
            raise

    async def _answer(self, scope: dict, record: AuditRecord, start: dict, body: bytes, send: Any) -> None:
        record.answered = True
        if record.failed:
            return await _send_error(send, REQUEST_NOT_SERVED)
        status = int(start.get("status", 500))
        parsed = _json_body(start, body)
        outcome = self._log_final(scope, record, status, parsed, include_data=bool(_presented_token(scope)))
        if outcome == "request_failed":
            return await _send_error(send, REQUEST_NOT_SERVED)
        if outcome == "response_failed":
            return await _send_error(send, RESPONSE_WITHHELD)
        await send(start)
        await send({"type": "http.response.body", "body": body, "more_body": False})

    def _log_final(self, scope: dict, record: AuditRecord, status: int, parsed: Any, include_data: bool) -> str:
        """Write the response entry (and the request entry first, if the route never reached its check)."""
        try:
            hasher = self.audit.hasher()
            auth, block, error = _describe(scope, record, hasher, status=status, response=parsed)
            if status == 403:
                auth = e.refused_by_route(auth)
            if record.request_logged:
                response = e.response_entry(hasher, auth, block, status, parsed, include_data=include_data)
                return "ok" if self.audit.write(response, memo=record.encoded) else "response_failed"
            # Refused at the door or served without an authorization check: both entries in one write.
            request = e.request_entry(auth, block, error)
            response = e.response_entry(hasher, auth, block, status, parsed, include_data=include_data)
            if self.audit.write(request, response, memo=record.encoded):
                record.request_logged = True
                return "ok"
            record.failed = True
            return "request_failed"
        except Exception:
            log.exception("audit: building the entries failed")
            record.failed = not record.request_logged
            return "request_failed" if record.failed else "response_failed"


def _describe(
    scope: dict, record: AuditRecord, hasher: Hasher, status: int | None, response: Any = None
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(auth block, request block, error) for this request as far as it has got."""
    state = scope.get("state", {})
    ctx = state.get("vg_ctx")
    caller = getattr(ctx, "caller", None)
    decision = state.get("vg_decision")
    inputs = (caller, decision, record.acl_result, record.authorized)
    # The response entry of a request whose check wrote the request entry reuses that auth block.
    if record.auth is None or any(a is not b for a, b in zip(inputs, record.auth_inputs, strict=True)):
        token = _presented_token(scope)
        record.auth, accessor = _auth(state, record, hasher, token, ctx, caller, decision, status)
        record.auth_inputs = inputs
        if record.request_block is None:  # the response entry repeats the request entry's block
            record.request_block = e.request_block(hasher, _facts(scope, record, ctx, token), accessor)
    assert record.request_block is not None
    return record.auth, record.request_block, _error(record, caller, decision, status, response)


def _auth(
    state: dict,
    record: AuditRecord,
    hasher: Hasher,
    token: str,
    ctx: Any,
    caller: Any,
    decision: Any,
    status: int | None,
) -> tuple[dict[str, Any], str]:
    """The auth block and the token accessor (in clear, hashed by the request block)."""
    if isinstance(caller, AgentCaller):
        return _agent_auth(record, hasher, token, caller, decision), caller.accessor
    if caller is not None:  # an admin token (deps.Caller)
        namespace = caller.token_namespace
        auth = e.admin_auth(hasher, token, caller.token, namespace.id, namespace.path, record.acl_result,
                            record.authorized)  # fmt: skip
        return auth, caller.token.accessor
    if decision is not None:  # a JWT refused while authenticating
        return e.refused_agent_auth(hasher, token, decision), ""
    # Refused before any caller was identified: 403, or 400 for an oversized token (DECISIONS.md#d17).
    refusal = state.get("vg_refusal") or ""
    if status == 403 and not refusal:
        refusal = "token_missing" if not token else "namespace_not_found" if ctx is None else "token_unknown"
    return e.anonymous_auth(hasher, token, refusal), ""


MAX_AGENT_BLOCKS = 1024  # a few KiB each (tens of KiB with an 8 KiB token): bounded, whatever agents send


def _agent_auth(record: AuditRecord, hasher: Hasher, token: str, caller: AgentCaller, decision: Any) -> dict[str, Any]:
    """An agent's auth block depends only on its token and the decision, and both are remembered across
    requests (api.agents: one caller per token), so an agent repeating a request reuses the block and its JSON
    instead of describing and encoding it again (measured in-process: 40 % of what the audit log cost an
    agent's KV read)."""
    if token != caller.raw_token:  # not expected: callers are remembered by the token presented
        return e.agent_auth(hasher, token, caller, decision)
    blocks = record.agent_blocks
    key = (id(caller), id(decision))  # the entry holds both, so while it lives no other object has these ids
    cached = blocks.get(key)
    if cached is None:
        auth = e.agent_auth(hasher, token, caller, decision)
        cached = blocks.put(key, (caller, decision, auth, e.encode_block(auth)))
    auth, text = cached[2], cached[3]
    record.encoded[id(auth)] = (auth, text)
    return auth


def _error(record: AuditRecord, caller: Any, decision: Any, status: int | None, response: Any) -> str:
    """What the caller was told: the route's check refused, or (refused at the door) the answer's errors."""
    if status is not None and not record.request_logged and isinstance(response, dict):
        errors = response.get("errors")
        if status >= 400 and isinstance(errors, list):
            return "; ".join(str(x) for x in errors)
    if decision is not None and not decision.allowed:
        return "; ".join(decision.caller_error()[1])
    if caller is not None and record.authorized and record.acl_result is not None and not record.acl_result.allowed:
        return "permission denied"
    return ""


def _facts(scope: dict, record: AuditRecord, ctx: Any, token: str) -> e.RequestFacts:
    state = scope.get("state", {})
    if ctx is not None:
        namespace_id, namespace_path = ctx.namespace.id, ctx.namespace.path
    else:
        given = state.get("vg_namespace_path", "")
        namespace_id = "" if given else ROOT_NAMESPACE_ID
        namespace_path = given + "/" if given else ""
    client = scope.get("client") or ("", None)
    return e.RequestFacts(
        id=record.id,
        operation=_operation(scope, record),
        path=state.get("vg_path", scope["path"][len("/v1/") :]),
        namespace_id=namespace_id,
        namespace_path=namespace_path,
        remote_address=str(client[0] or ""),
        remote_port=client[1],
        token=token,
        data=_json_object(record.body),
    )


def _operation(scope: dict, record: AuditRecord) -> str:
    if record.operation:
        return record.operation
    return e.operation_for(scope.get("method", "GET"), bool(scope.get("state", {}).get("vg_list")))


def _presented_token(scope: dict) -> str:
    """The token by the rule authentication uses; "" when conflicting tokens were refused (no one's)."""
    try:
        return scope_token(scope)
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


async def _read_ahead(receive: Any, record: AuditRecord) -> Any:
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
        record.body = b"".join(m.get("body", b"") for m in messages)

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
