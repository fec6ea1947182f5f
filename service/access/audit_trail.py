"""One request's audit record, whatever the transport, and the entries written from it.

An `AccessRecord` collects what the access layer learns about a request as it goes: what was asked
(path, operation, namespace, body), who asked (the presented token, then the caller or why none was
identified), and what was decided (the admin token's ACL result or the agent's Decision). The entries:

- the request entry, written at the authorization check (`write_request_entry`), i.e. after the caller is
  known and decided and before anything is read or changed; or, for requests that never reach a check
  (public routes, refusals while authenticating), together with the response entry;
- the response entry (`write_final_entries`), before the answer leaves;
- for the decision API, an `evaluation` entry between them (`write_evaluation_entry`): the agent token the
  caller asked about, as an agent decision with its reason code.

No entry, no service: the request entry's failure raises AuditFailed (503), and an answer whose response
entry cannot be written is withheld by the transport.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..audit import entry as e
from ..audit.hashing import Hasher
from ..audit.log import AuditFailed, AuditLog
from ..authz.acl import ACLResult
from ..authz.decision import Decision
from ..identity.model import ROOT_NAMESPACE_ID, Namespace
from .agents import AgentCaller
from .callers import AdminCaller

log = logging.getLogger("vaultguard.audit")

@dataclass
class AccessRecord:
    """What is known of one request so far; the transport fills what it saw, the access layer the rest."""

    id: str
    token: str = ""  # the presented token (access.tokens); "" when none, or when conflicting tokens were refused
    remote_address: str = ""
    remote_port: int | None = None
    transport: str = ""  # "" for HTTP (Vault's own entries), "grpc" for the gRPC decision API
    path: str | None = None  # namespace-relative Vault path, once known
    requested_namespace: str = ""  # the namespace as given ("a/b", "" for root), until `namespace` resolves it
    implied_operation: str = "read"  # from the transport (HTTP method, list flag) until a check names one
    data: Any = None  # the request body when it is a JSON object small enough to log

    namespace: Namespace | None = None
    caller: AdminCaller | AgentCaller | None = None
    refusal: str = ""  # why no caller was identified (audit.entry.ADMIN_REFUSALS)
    decision: Decision | None = None  # an agent's, or a JWT refused while authenticating
    operation: str | None = None  # the operation the route authorized
    acl_result: ACLResult | None = None  # an admin token's ACL result (None for root)
    authorized: bool = False  # the request reached its authorization check

    request_block: dict[str, Any] | None = None
    auth: dict[str, Any] | None = None  # the last auth block, reused while its inputs stay the same
    auth_inputs: tuple = ()
    encoded: dict = field(default_factory=dict)  # JSON of the blocks both entries share (entry.encode)
    request_logged: bool = False
    failed: bool = False
    answered: bool = False

    def decided(self, operation: str, *, acl_result: ACLResult | None = None, decision: Decision | None = None) -> None:
        """The route's authorization check ran: `operation`, and its verdict."""
        self.authorized = True
        self.operation = operation
        self.acl_result = acl_result
        if decision is not None:
            self.decision = decision


def write_request_entry(audit: AuditLog, record: AccessRecord) -> None:
    """The request entry, at the authorization check; raises AuditFailed (503) when no device takes it."""
    if not audit.enabled or record.request_logged:
        return

    def entry() -> dict[str, Any]:
        auth, block, error = describe(audit, record, status=None)
        return e.request_entry(auth, block, error)

    _write_before_serving(audit, record, "request", entry)
    record.request_logged = True


def _write_before_serving(audit: AuditLog, record: AccessRecord, kind: str, entry: Callable[[], dict]) -> None:
    """Write the entry `entry` builds, or mark the request failed and raise AuditFailed: nothing is served."""
    try:
        ok = audit.write(entry(), memo=record.encoded)
    except Exception:
        log.exception("audit: building the %s entry failed", kind)
        ok = False
    if not ok:
        record.failed = True
        raise AuditFailed()


def write_final_entries(
    audit: AuditLog, record: AccessRecord, status: int, parsed: Any, *, include_data: bool, extra: dict | None = None
) -> str:
    """The response entry (and the request entry first, when the request never reached a check).

    Returns "ok", "request_failed" (nothing may be served) or "response_failed" (the answer is withheld).
    `extra` adds keys to the entry's `response` block (the gRPC status)."""
    if not audit.enabled:
        return "ok"
    try:
        hasher = audit.hasher()
        auth, block, error = describe(audit, record, status=status, response=parsed)
        if status == 403:
            auth = e.refused_by_route(auth)
        response = e.response_entry(hasher, auth, block, status, parsed, include_data=include_data)
        if extra:
            response["response"].update(extra)
        if record.request_logged:
            return "ok" if audit.write(response, memo=record.encoded) else "response_failed"
        # Refused at the door or served without an authorization check: both entries in one write.
        if audit.write(e.request_entry(auth, block, error), response, memo=record.encoded):
            record.request_logged = True
            return "ok"
        record.failed = True
        return "request_failed"
    except Exception:
        log.exception("audit: building the entries failed")
        record.failed = not record.request_logged
        return "request_failed" if record.failed else "response_failed"


def write_evaluation_entry(
    audit: AuditLog,
    record: AccessRecord,
    token: str,
    outcome: AgentCaller | Decision,
    decision: Decision,
    operation: str,
    path: str,
    parameters: Any,
) -> None:
    """The decision API's answer about an agent token, as that agent's decision: its auth block (with the
    decision and its reason code), the operation and path asked about, and the id of the asking request.
    Raises AuditFailed when no device takes it (the answer is then not given)."""
    if not audit.enabled:
        return

    def entry() -> dict[str, Any]:
        hasher = audit.hasher()
        if isinstance(outcome, AgentCaller):
            auth = e.agent_auth(hasher, token, outcome, decision)
        else:
            auth = e.refused_agent_auth(hasher, token, decision)
        namespace = record.namespace
        asked = e.RequestFacts(
            id=record.id,
            operation=operation,
            path=path,
            namespace_id=namespace.id if namespace else "",
            namespace_path=namespace.path if namespace else "",
            remote_address=record.remote_address,
            remote_port=record.remote_port,
            token=token,
            data=dict(parameters) if parameters is not None else None,
        )
        accessor = outcome.accessor if isinstance(outcome, AgentCaller) else ""
        block = e.request_block(hasher, asked, accessor)
        block["asked_by"] = record.path
        error = "" if decision.allowed else "; ".join(decision.caller_error()[1])
        return e.evaluation_entry(auth, block, error)

    _write_before_serving(audit, record, "evaluation", entry)


def describe(
    audit: AuditLog, record: AccessRecord, status: int | None, response: Any = None
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(auth block, request block, error) for this request as far as it has got."""
    hasher = audit.hasher()
    caller, decision = record.caller, record.decision
    inputs = (caller, decision, record.acl_result, record.authorized)
    # The response entry of a request whose check wrote the request entry reuses that auth block.
    if record.auth is None or any(a is not b for a, b in zip(inputs, record.auth_inputs, strict=True)):
        record.auth, accessor = _auth(audit, record, hasher, status)
        record.auth_inputs = inputs
        if record.request_block is None:  # the response entry repeats the request entry's block
            record.request_block = e.request_block(hasher, _facts(record), accessor)
            if record.transport:
                record.request_block["transport"] = record.transport
    assert record.request_block is not None
    return record.auth, record.request_block, _error(record, status, response)


def _auth(audit: AuditLog, record: AccessRecord, hasher: Hasher, status: int | None) -> tuple[dict[str, Any], str]:
    """The auth block and the token accessor (in clear, hashed by the request block)."""
    caller, decision, token = record.caller, record.decision, record.token
    if isinstance(caller, AgentCaller):
        return _agent_auth(audit, record, hasher, caller, decision), caller.accessor
    if caller is not None:
        namespace = caller.token_namespace
        auth = e.admin_auth(hasher, token, caller.token, namespace.id, namespace.path, record.acl_result,
                            record.authorized, caller.remaining_uses)  # fmt: skip
        return auth, caller.token.accessor
    if decision is not None:  # a JWT refused while authenticating
        return e.refused_agent_auth(hasher, token, decision), ""
    refusal = record.refusal  # refused before any caller was identified (403, or 400 for an unusable token)
    if status == 403 and not refusal:
        unknown = "namespace_not_found" if record.namespace is None else "token_unknown"
        refusal = "token_missing" if not token else unknown
    return e.anonymous_auth(hasher, token, refusal), ""


def _agent_auth(
    audit: AuditLog, record: AccessRecord, hasher: Hasher, caller: AgentCaller, decision: Decision | None
) -> dict[str, Any]:
    """An agent's auth block depends only on its token and the decision, and both are remembered across
    requests (access.agents: one caller per token), so an agent repeating a request reuses the block and its
    JSON instead of describing and encoding it again (measured in-process: 40 % of what the audit log cost an
    agent's KV read)."""
    token = record.token
    if token != caller.raw_token:  # not expected: callers are remembered by the token presented
        return e.agent_auth(hasher, token, caller, decision)
    blocks = audit.agent_blocks
    key = (id(caller), id(decision))  # the entry holds both, so while it lives no other object has these ids
    cached = blocks.get(key)
    if cached is None:
        auth = e.agent_auth(hasher, token, caller, decision)
        cached = blocks.put(key, (caller, decision, auth, e.encode_block(auth)))
    auth, text = cached[2], cached[3]
    record.encoded[id(auth)] = (auth, text)
    return auth


def _error(record: AccessRecord, status: int | None, response: Any) -> str:
    """What the caller was told: the route's check refused, or (refused at the door) the answer's errors."""
    if status is not None and not record.request_logged and isinstance(response, dict):
        errors = response.get("errors")
        if status >= 400 and isinstance(errors, list):
            return "; ".join(str(x) for x in errors)
    decision = record.decision
    if decision is not None and not decision.allowed:
        return "; ".join(decision.caller_error()[1])
    result = record.acl_result
    if record.caller is not None and record.authorized and result is not None and not result.allowed:
        return "permission denied"
    return ""


def _facts(record: AccessRecord) -> e.RequestFacts:
    if record.namespace is not None:
        namespace_id, namespace_path = record.namespace.id, record.namespace.path
    else:
        given = record.requested_namespace
        namespace_id = "" if given else ROOT_NAMESPACE_ID
        namespace_path = given + "/" if given else ""
    return e.RequestFacts(
        id=record.id,
        operation=record.operation or record.implied_operation,
        path=record.path or "",
        namespace_id=namespace_id,
        namespace_path=namespace_path,
        remote_address=record.remote_address,
        remote_port=record.remote_port,
        token=record.token,
        data=record.data,
    )
