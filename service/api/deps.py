"""What every route needs: the store, the request namespace, the caller, the body, and the ACL check.

The caller and the check are the access layer's (access.layer); this module gives them the HTTP request."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from ..access.agents import AgentCaller
from ..access.audit_trail import AccessRecord
from ..access.callers import AdminCaller
from ..access.canonical import NameRule, NotCanonical, canonical_path
from ..access.layer import authorize, caller_token, identify
from ..access.tokens import scope_headers
from ..authz.acl import AccessRequest
from ..authz.decision import Decision
from ..errors import ApiError, bad_request
from ..identity.model import Namespace
from ..storage.store import Store
from . import fields as f
from .audit_middleware import access_record


@dataclass
class Context:
    request: Request
    store: Store
    namespace: Namespace
    path: str  # namespace-relative Vault path, e.g. "agent-registry/register"
    is_list: bool
    record: AccessRecord  # what the audit log will say of this request
    caller: AdminCaller | AgentCaller | None = None
    decision: Decision | None = None  # set for agent requests once authorized (audit, explain)
    warnings: list[str] = field(default_factory=list)
    name: str = ""  # the object the path names, canonical (see access.canonical); "" when it names none
    parameters: dict[str, Any] | None = None  # the values as they will be stored (authorize_body), for the ACL

    @property
    def settings(self):  # noqa: ANN201
        return self.request.app.state.settings

    def authorize_body(
        self,
        operation: str,
        body: Mapping[str, Any],
        declared: f.Body,
        refine: Callable[[dict[str, Any]], None] | None = None,
    ) -> tuple[dict[str, Any], list[str]]:
        """Coerce `body` as the handler will store it (`refine` finishes what `declared` cannot say), then
        authorize `operation` with exactly those values; returns (values, warnings) for the handler.

        Keys the route ignores are checked as sent, so allowed_parameters still refuses a key it does not
        list (as in Vault). A body that does not parse is judged on its raw values first: a caller without
        rights gets 403, never a field error (Vault authorizes before its handlers read fields)."""
        try:
            values, warnings = declared.parse(body)
            if refine is not None:
                refine(values)
        except ApiError:
            self.authorize(operation, dict(body))
            raise
        self.parameters = {**{k: v for k, v in body.items() if k not in declared.fields}, **values}
        self.authorize(operation)
        return values, warnings

    def authorize(self, operation: str, parameters: dict | None = None, path: str | None = None) -> None:
        """Authorize this request (access.layer.authorize): an admin token by its ACL, an agent by
        baseline ∩ ceiling ∩ RAR. The parameters checked are the parsed ones (`authorize_body`) unless
        given. Raises 403; an agent's refusal carries its Decision (the caller sees only `permission denied`
        or the documented RAR text, docs/security.md)."""
        assert self.caller is not None
        if parameters is None:
            parameters = self.parameters
        audit = self.request.app.state.audit
        target = path if path is not None else self.path
        self.decision = authorize(audit, self.record, self.caller, self.namespace, target, operation, parameters)

    def may(self, operation: str, path: str) -> bool:
        """Whether this caller could `operation` on `path` (namespace-relative) by the same rules as
        `authorize`, without deciding this request or writing to the audit log: for answers that depend on
        what the caller may see beyond what it asked to do."""
        assert self.caller is not None
        if isinstance(self.caller, AgentCaller):
            return self.caller.decide(AccessRequest(path, operation)).allowed
        result = self.caller.evaluate(self.namespace, path, operation)
        return result is None or result.allowed

    async def body(self) -> dict[str, Any]:
        return await read_json(self.request)


async def read_json(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; empty body ⇒ {}. Size-limited, and never a 500."""
    limit = request.app.state.settings.max_request_size
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"request body larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request body larger than {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except RecursionError:
        raise bad_request("failed to parse JSON input: nesting too deep") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"failed to parse JSON input: {exc}") from None
    if not isinstance(data, dict):
        raise bad_request("failed to parse JSON input: the body must be a JSON object")
    return data


def request_token(request: Request) -> str:
    """The presented token ("" when none), by the one rule of access.tokens: 400 when conflicting, or larger
    than the listener's max_token_header_size."""
    limit = request.app.state.settings.max_token_header_size
    return caller_token(access_record(request.scope), scope_headers(request.scope), limit)


async def context(request: Request, *, name: str | None = None, rule: NameRule | None = None) -> Context:
    """Resolve the namespace and the caller (access.layer.identify): an admin token from the token store, or
    an agent's JWT.

    A route whose path ends in an object name passes it with its `rule`: the context then holds the
    canonical name and the canonical path, which the ACL check and the handler both use (or a 400 when
    the name has no canonical form)."""
    state = request.app.state
    record = access_record(request.scope)
    token = request_token(request)
    namespace, caller = await identify(state.access, record, record.requested_namespace, token)
    path = request.scope.get("state", {}).get("vg_path")
    if path is None:  # outside the Vault path middleware (unit tests)
        path = request.url.path[len("/v1/") :]
    ctx = Context(request, state.store, namespace, path, bool(request.scope["state"].get("vg_list")), record, caller)
    if rule is not None and name is not None:
        try:
            ctx.path, ctx.name = canonical_path(ctx.path, name, rule)
        except NotCanonical as exc:
            raise bad_request(str(exc)) from None
    return ctx
