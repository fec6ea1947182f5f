"""The audit middleware in-process: the route still gets the whole body, answers wait for their response
entry, and nothing is answered (503) when no device takes an entry."""

from __future__ import annotations

import asyncio
import json

import pytest

from vaultguard.service.access.audit_trail import write_request_entry
from vaultguard.service.access.callers import AdminCaller
from vaultguard.service.api.audit_middleware import MAX_AUDITED_REQUEST_BODY, AuditMiddleware, access_record
from vaultguard.service.audit.hashing import Hasher
from vaultguard.service.audit.log import REQUEST_NOT_SERVED, RESPONSE_WITHHELD, AuditFailed, AuditLog
from vaultguard.service.authn.tokens import TokenRecord
from vaultguard.service.authz.acl import ACLResult
from vaultguard.service.identity.model import Namespace


class Memory:
    name = "memory"

    def __init__(self, fail_after: int | None = None) -> None:
        self.entries: list[dict] = []
        self.fail_after = fail_after

    def write(self, lines: bytes) -> None:
        if self.fail_after is not None and len(self.entries) >= self.fail_after:
            raise OSError(5, "Input/output error")
        self.entries.extend(json.loads(line) for line in lines.splitlines())


def audit_log(device: Memory | None) -> AuditLog:
    log = AuditLog(store=None, devices=[device] if device else [])  # type: ignore[arg-type]
    log._hasher = Hasher(bytes(32))  # no storage in these tests
    return log


def scope(method: str = "GET", path: str = "/v1/sys/health", headers: list | None = None) -> dict:
    return {"type": "http", "method": method, "path": path, "headers": headers or [], "client": ("10.1.2.3", 4444)}


def run(app, middleware_log: AuditLog, request_scope: dict, chunks: list[bytes] | None = None):
    """Drive one request through the middleware; returns (status, body, what the app received)."""
    incoming = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks or [])
    ]
    sent: list[dict] = []

    async def receive() -> dict:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(AuditMiddleware(app, middleware_log)(request_scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body


def json_app(status: int = 200, body: dict | None = None, read_body: list | None = None):
    async def app(scope, receive, send):  # noqa: ANN001
        if read_body is not None:
            while True:
                message = await receive()
                read_body.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
        payload = json.dumps(body if body is not None else {"ok": "yes"}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})  # fmt: skip
        await send({"type": "http.response.body", "body": payload})

    return app


def test_a_public_request_gets_a_request_and_a_response_entry_before_its_answer():
    device = Memory()
    status, body = run(json_app(), audit_log(device), scope())
    assert (status, json.loads(body)) == (200, {"ok": "yes"})
    assert [e["type"] for e in device.entries] == ["request", "response"]
    assert device.entries[0]["request"]["remote_address"] == "10.1.2.3"
    assert device.entries[1]["response"] == {"status_code": 200}, "no token: the cheap path keeps no data"


def test_the_route_receives_the_whole_body_the_audit_read_ahead():
    device, received = Memory(), []
    chunks = [b'{"password":', b' "hunter2", ', b'"n": 1}']
    headers = [(b"content-length", str(len(b"".join(chunks))).encode()), (b"x-vault-token", b"hvs.t")]
    run(json_app(read_body=received), audit_log(device), scope("POST", "/v1/secret/data/a", headers), chunks)
    assert b"".join(received) == b"".join(chunks)
    data = device.entries[0]["request"]["data"]
    assert data["n"] == 1 and data["password"].startswith("hmac-sha256:")
    assert "hunter2" not in json.dumps(device.entries)


def test_a_body_beyond_the_read_ahead_limit_reaches_the_route_intact_and_is_not_logged():
    device, received = Memory(), []
    big = b'{"blob": "' + b"x" * (MAX_AUDITED_REQUEST_BODY + 10) + b'"}'
    chunks = [big[i : i + 8192] for i in range(0, len(big), 8192)]
    headers = [(b"content-length", str(len(big)).encode())]
    run(json_app(read_body=received), audit_log(device), scope("POST", "/v1/x", headers), chunks)
    assert b"".join(received) == big
    assert device.entries[0]["request"]["data"] is None


def test_without_devices_requests_pass_untouched():
    request_scope = scope()
    status, _ = run(json_app(), audit_log(None), request_scope)
    assert status == 200 and "vg_audit" not in request_scope.get("state", {})


def test_paths_outside_the_api_are_not_audited():
    device = Memory()
    run(json_app(), audit_log(device), scope(path="/ui/docs"))
    assert device.entries == []


def test_when_no_device_takes_the_entries_the_answer_is_replaced_by_503():
    status, body = run(json_app(), audit_log(Memory(fail_after=0)), scope())
    assert (status, json.loads(body)) == (503, {"errors": [REQUEST_NOT_SERVED]})


def test_an_answer_whose_response_entry_cannot_be_written_is_withheld():
    device = Memory(fail_after=1)

    async def app(request_scope, receive, send):  # noqa: ANN001
        # A route that wrote its request entry at the authorization check, then answered.
        record = access_record(request_scope)
        record.decided("read")
        write_request_entry(log, record)
        await json_app(body={"data": "secret"})(request_scope, receive, send)

    log = audit_log(device)
    status, body = run(app, log, scope(headers=[(b"x-vault-token", b"hvs.t")]))
    assert (status, json.loads(body)) == (503, {"errors": [RESPONSE_WITHHELD]})
    assert [e["type"] for e in device.entries] == ["request"]


def test_the_authorization_hook_refuses_the_route_when_the_request_entry_cannot_be_written():
    ran_past_the_check = []

    async def app(request_scope, receive, send):  # noqa: ANN001
        record = access_record(request_scope)
        try:
            record.decided("update")
            write_request_entry(log, record)
            ran_past_the_check.append(True)
        except AuditFailed as exc:
            await json_app(exc.status, {"errors": exc.errors})(request_scope, receive, send)

    log = audit_log(Memory(fail_after=0))
    status, body = run(app, log, scope("POST", "/v1/sys/policy/x", [(b"x-vault-token", b"hvs.t")]))
    assert (status, json.loads(body)) == (503, {"errors": [REQUEST_NOT_SERVED]})
    assert ran_past_the_check == []


def test_a_crashing_route_is_still_audited_as_a_500():
    device = Memory()

    async def app(request_scope, receive, send):  # noqa: ANN001
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        run(app, audit_log(device), scope())
    assert [(e["type"], e.get("response", {}).get("status_code")) for e in device.entries] == [
        ("request", None), ("response", 500)
    ]  # fmt: skip


def test_a_bearer_token_is_audited_like_an_x_vault_token():
    device = Memory()
    run(json_app(), audit_log(device), scope(headers=[(b"authorization", b"Bearer abc.def.ghi")]))
    assert device.entries[0]["request"]["client_token"] == Hasher(bytes(32)).hash("abc.def.ghi")
    assert "abc.def.ghi" not in json.dumps(device.entries)


def test_a_body_too_large_to_log_is_not_waited_for():
    # The route may refuse a declared length without reading the body (413); the audit must not wait for it.
    device = Memory()

    async def never() -> dict:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    headers = [(b"content-length", str(MAX_AUDITED_REQUEST_BODY + 1).encode())]
    app = json_app(413, {"errors": ["request body larger than the limit"]})

    async def go() -> None:
        await asyncio.wait_for(AuditMiddleware(app, audit_log(device))(scope("POST", "/v1/x", headers), never, send), 5)

    asyncio.run(go())
    assert sent[0]["status"] == 413 and [e["type"] for e in device.entries] == ["request", "response"]


def test_a_403_after_the_check_allowed_is_logged_as_a_route_refusal():
    device = Memory()

    async def app(request_scope, receive, send):  # noqa: ANN001
        record = access_record(request_scope)
        root = Namespace(id="root", path="")
        record.namespace = root
        token = TokenRecord(id_hash="h", accessor="acc", namespace_id="root", policies=["ops"])
        record.caller = AdminCaller(token, root, acl=None)  # type: ignore[arg-type]
        record.decided("update", acl_result=ACLResult(True, frozenset({"update"}), ("ops",), "sys/x", "allowed"))
        write_request_entry(log, record)
        await json_app(403, {"errors": ["permission denied"]})(request_scope, receive, send)

    log = audit_log(device)
    run(app, log, scope("POST", "/v1/sys/x", [(b"x-vault-token", b"hvs.t")]))
    request, response = device.entries
    assert request["auth"]["metadata"] == {"decision": "allow", "reason": "allowed"}
    assert (response["auth"]["metadata"]["decision"], response["auth"]["metadata"]["reason"]) == (
        "deny",
        "route_refused",
    )
