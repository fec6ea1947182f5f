"""What every route needs: the store, the request namespace, the caller, the body, and the ACL check."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from ..access.canonical import NameRule, NotCanonical, canonical_path
from ..access.tokens import ConflictingTokens, scope_token
from ..audit.middleware import audit_request
from ..authn.jwt import looks_like_jwt
from ..authn.tokens import TokenRecord, token_hash
from ..authz.acl import ACL, AccessRequest, compile_acl
from ..authz.decision import Decision
from ..authz.policy import Policy, PolicyError, parse_policy
from ..authz.rar import AuthorizationDetails, canonical_claim, compile_details
from ..authz.templates import IdentityContext
from ..identity.model import Namespace
from ..memo import BoundedMemo
from ..storage.directory import DirectoryView
from ..storage.store import Store
from . import fields as f
from .agents import AgentCaller, AgentDenied, authenticate_agent
from .errors import ApiError, bad_request, permission_denied


@dataclass
class Caller:
    token: TokenRecord
    token_namespace: Namespace
    acl: ACL


@dataclass
class Context:
    request: Request
    store: Store
    namespace: Namespace
    path: str  # namespace-relative Vault path, e.g. "agent-registry/register"
    is_list: bool
    caller: Caller | AgentCaller | None = None
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
        schema: Mapping[str, f.Field],
        refine: Callable[[dict[str, Any]], None] | None = None,
    ) -> tuple[dict[str, Any], list[str]]:
        """Coerce `body` as the handler will store it (`refine` finishes what `schema` cannot say), then
        authorize `operation` with exactly those values; returns (values, warnings) for the handler.

        Keys the route ignores are checked as sent, so allowed_parameters still refuses a key it does not
        list (as in Vault). A body that does not parse is judged on its raw values first: a caller without
        rights gets 403, never a field error (Vault authorizes before its handlers read fields)."""
        try:
            values, warnings = f.parse(body, schema)
            if refine is not None:
                refine(values)
        except ApiError:
            self.authorize(operation, dict(body))
            raise
        self.parameters = {**{k: v for k, v in body.items() if k not in schema}, **values}
        self.authorize(operation)
        return values, warnings

    def authorize(self, operation: str, parameters: dict | None = None, path: str | None = None) -> None:
        """Authorize this request: an admin token by its ACL, an agent by baseline ∩ ceiling ∩ RAR.

        The parameters checked are the parsed ones (`authorize_body`) unless given. Raises 403; an agent's refusal
        carries its Decision (the caller sees only the DECISIONS.md#d5 text).
        """
        assert self.caller is not None
        if parameters is None:
            parameters = self.parameters
        if isinstance(self.caller, AgentCaller):
            self.decision = self.caller.decide(AccessRequest(path or self.path, operation, parameters))
            self.request.state.vg_decision = self.decision
            audit_request(self.request, operation)  # the request entry, before the route acts
            if not self.decision.allowed:
                raise AgentDenied(self.decision)
            return
        if self.caller.token.is_root:
            audit_request(self.request, operation)
            return
        relative = _relative_namespace(self.caller.token_namespace.path, self.namespace.path)
        acl_path = relative + (path if path is not None else self.path)
        result = self.caller.acl.evaluate(AccessRequest(acl_path, operation, parameters))
        audit_request(self.request, operation, result)
        if not result.allowed:
            raise permission_denied()

    async def body(self) -> dict[str, Any]:
        return await read_json(self.request)


def _relative_namespace(token_ns_path: str, request_ns_path: str) -> str:
    return request_ns_path[len(token_ns_path) :]


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


def request_token(request: Request) -> str | None:
    """The presented token (access.tokens: the audit log reads it by the same rule), size-checked (DECISIONS.md#d17);
    400 when the request presents two different tokens."""
    try:
        token = scope_token(request.scope)
    except ConflictingTokens as exc:
        request.state.vg_refusal = "conflicting_tokens"  # the audit log names the rule
        raise bad_request(str(exc)) from None
    if not token:
        return None
    limit = request.app.state.settings.max_token_header_size
    if limit >= 0 and len(token) > limit:
        request.state.vg_refusal = "too_large"  # the audit log names the rule (DECISIONS.md#d17, DECISIONS.md#d21)
        raise bad_request(f"authentication token is larger than the maximum allowed size of {limit} bytes")
    return token


class PolicyCache:
    """Parsed policies and compiled ACLs keyed by their exact text, so a change is seen at once."""

    def __init__(self, size: int = 2048):
        self.size = size
        self._policies: BoundedMemo[tuple[str, str], Policy] = BoundedMemo(size)
        self._acls: BoundedMemo[tuple[tuple[tuple[str, str], ...], object], ACL] = BoundedMemo(size)
        self._details: BoundedMemo[tuple[str, object], AuthorizationDetails] = BoundedMemo(size)
        self._templated: BoundedMemo[tuple[tuple[str, str], ...], bool] = BoundedMemo(size)

    def policy(self, name: str, text: str) -> Policy | None:
        key = (name, text)
        policy = self._policies.get(key)
        if policy is None:
            try:
                policy = parse_policy(name, text)
            except PolicyError:
                return None  # stored text was validated on write; a failure here grants nothing
            self._policies.put(key, policy)
        return policy

    def acl(
        self,
        texts: dict[str, str],
        identity: IdentityContext | Callable[[], IdentityContext] | None = None,
        identity_key: object = None,
    ) -> ACL:
        """The compiled ACL for these policy texts; templated policies are compiled per identity.

        `identity` may be a factory, called only when a templated ACL must be compiled; `identity_key`
        must change whenever anything a template can read changes (entity, aliases).
        """
        items = tuple(sorted(texts.items()))
        templated = self._templated.get(items)
        if templated is None:
            templated = self._templated.put(
                items, any(p.templated for name, text in items if (p := self.policy(name, text)) is not None)
            )
        key = (items, identity_key if templated and identity is not None else None)
        acl = self._acls.get(key)
        if acl is None:
            policies = [p for name, text in items if (p := self.policy(name, text)) is not None]
            acl = self._acls.put(key, compile_acl(policies, identity() if callable(identity) else identity))
        return acl

    def details(
        self,
        claim: Sequence[Mapping[str, Any]],
        identity: IdentityContext | Callable[[], IdentityContext],
        identity_key: object,
    ) -> AuthorizationDetails:
        """Compiled authorization_details; agents send the same claim with every new token, so compile once.

        The key is the claim's canonical JSON (plus the identity when an entry is templated)."""
        text = canonical_claim(claim)
        key = (text, identity_key if "{{" in text else None)
        compiled = self._details.get(key)
        if compiled is None:
            compiled = self._details.put(key, compile_details(claim, identity() if callable(identity) else identity))
        return compiled


async def context(
    request: Request, *, authenticated: bool = True, name: str | None = None, rule: NameRule | None = None
) -> Context:
    """Resolve the namespace and the caller: an admin token from the token store, or an agent's JWT.

    A route whose path ends in an object name passes it with its `rule`: the context then holds the
    canonical name and the canonical path, which the ACL check and the handler both use (or a 400 when
    the name has no canonical form)."""
    store: Store = request.app.state.store
    state = request.scope.get("state", {})
    token = request_token(request) if authenticated else None
    if authenticated and token is None:
        raise permission_denied()
    # Namespaces change only through admin writes, which bump the generation: the view's memo is exact.
    view = request.app.state.directory.current()
    namespace = view.namespace(state.get("vg_namespace_path", ""))
    if namespace is None:
        # Same answer as a bad token: do not reveal which namespaces exist.
        request.state.vg_refusal = "namespace_not_found"
        raise permission_denied()
    path = state.get("vg_path")
    if path is None:  # outside the Vault path middleware (unit tests)
        path = request.url.path[len("/v1/") :]
    ctx = Context(request, store, namespace, path, bool(state.get("vg_list")))
    request.state.vg_ctx = ctx  # the audit log reads the namespace and, once known, the caller
    if token is not None:
        await _authenticate(ctx, request, token, view)
    if rule is not None and name is not None:
        try:
            ctx.path, ctx.name = canonical_path(ctx.path, name, rule)
        except NotCanonical as exc:
            raise bad_request(str(exc)) from None
    return ctx


async def _authenticate(ctx: Context, request: Request, token: str, view: DirectoryView) -> None:
    namespace, store = ctx.namespace, ctx.store
    # Vault tokens are never JWTs (DECISIONS.md#d32), so the two paths cannot be confused.
    if looks_like_jwt(token):
        try:
            ctx.caller = await authenticate_agent(request, namespace, token, view)
        except AgentDenied as exc:
            request.state.vg_decision = exc.decision
            raise
        return
    admin = _admin_caller(view, request, namespace, token)
    ctx.caller = admin
    if admin.token.num_uses > 0:
        _consume_use(store, admin.token)


def _admin_caller(view: DirectoryView, request: Request, namespace: Namespace, token: str) -> Caller:
    record = view.token_by_hash(token_hash(token))
    if record is None or record.expired(time.time()):
        request.state.vg_refusal = "token_unknown" if record is None else "token_expired"  # for the audit log
        raise permission_denied()
    token_ns = view.namespace_by_id(record.namespace_id)
    # A token works in its own namespace and the namespaces below it, never above or beside.
    if token_ns is None or not namespace.path.startswith(token_ns.path):
        request.state.vg_refusal = "token_namespace_mismatch"
        raise permission_denied()
    texts = {} if record.is_root else view.policy_texts(record.namespace_id, record.policies)
    cache: PolicyCache = request.app.state.policy_cache
    return Caller(record, token_ns, cache.acl(texts))


def _consume_use(store: Store, record: TokenRecord) -> None:
    """Limited-use tokens: count this use; the last use deletes the token."""
    with store.write() as tx:
        current = tx.token_by_hash(record.id_hash)
        if current is None:
            raise permission_denied()
        tx.delete_token(record.id_hash)
        if current.num_uses > 1:
            current.num_uses -= 1
            tx.insert_token(current)
