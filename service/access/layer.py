"""The access layer's steps, the same for HTTP routes, the decision API and gRPC, each recorded on the
request's AccessRecord for the audit log:

1. `caller_token`: the token, read from headers or metadata by one rule (access.tokens);
2. `identify`: the namespace, then the caller (an admin token, a use counted when it is limited-use, or an
   agent's JWT);
3. `authorize`: the verdict on one operation on a namespace-relative path, written to the audit log before
   the request acts.

Every refusal carries its reason to the audit log; the caller sees only the documented text (docs/security.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..audit.log import AuditLog
from ..authz.acl import AccessRequest
from ..authz.decision import Decision
from ..errors import permission_denied
from ..identity.model import Namespace
from .agents import AgentCaller, AgentDenied
from .audit_trail import AccessRecord, write_request_entry
from .callers import AccessServices, AdminCaller, CallerRefused, resolve_caller
from .tokens import UnusableToken, usable_token


def caller_token(record: AccessRecord, headers: Iterable[tuple[str, Any]], max_size: int) -> str:
    """The presented token ("" when none); raises UnusableToken (400) for conflicting or oversized ones."""
    try:
        record.token = usable_token(headers, max_size)
    except UnusableToken as exc:
        record.refusal = exc.reason
        raise
    return record.token


async def identify(
    services: AccessServices, record: AccessRecord, namespace_path: str, token: str
) -> tuple[Namespace, AdminCaller | AgentCaller]:
    """The request's namespace ("a/b", "" for root) and the caller presenting `token` there. Raises a 403
    (CallerRefused, AgentDenied) with the reason recorded."""
    if not token:
        record.refusal = "token_missing"
        raise CallerRefused(record.refusal)
    # Namespaces change only through admin writes, which bump the generation: the view's memo is exact.
    view = services.directory.current()
    namespace = view.namespace(namespace_path)
    if namespace is None:  # the same answer as a bad token: which namespaces exist is not said
        record.refusal = "namespace_not_found"
        raise CallerRefused(record.refusal)
    record.namespace = namespace
    try:
        caller = await resolve_caller(services, view, namespace, token)
    except CallerRefused as exc:
        record.refusal = exc.reason
        raise
    except AgentDenied as exc:
        record.decision = exc.decision
        raise
    record.caller = caller
    return namespace, caller


def authorize(
    audit: AuditLog,
    record: AccessRecord,
    caller: AdminCaller | AgentCaller,
    namespace: Namespace,
    path: str,
    operation: str,
    parameters: dict[str, Any] | None = None,
) -> Decision | None:
    """Allow `operation` on the namespace-relative `path` or raise: an admin token by its ACL (relative to
    its own namespace), an agent by baseline ∩ ceiling ∩ RAR. The request entry is written first, so a
    refusal is audited, and nothing is done unaudited (AuditFailed, 503).

    Returns the agent's Decision (None for an admin token). Raises AgentDenied (carrying the Decision; the
    caller sees only the documented text) or a 403 `permission denied`."""
    if isinstance(caller, AgentCaller):
        decision = caller.decide(AccessRequest(path, operation, parameters))
        record.decided(operation, decision=decision)
        write_request_entry(audit, record)
        if not decision.allowed:
            raise AgentDenied(decision)
        return decision
    result = caller.evaluate(namespace, path, operation, parameters)
    record.decided(operation, acl_result=result)
    write_request_entry(audit, record)
    if result is not None and not result.allowed:
        raise permission_denied()
    return None
