"""Who is asking, and may they: the caller resolved from its token and its request authorized, by the same
code for HTTP routes, the decision API and gRPC.

A token is either an admin token from the token store (its ACL, valid in its own namespace and the ones
below it, a use counted when it is limited-use) or an agent's JWT (baseline ∩ ceiling ∩ RAR). Vault tokens
are never JWTs, so the two can never be confused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..authn.jwt import JWTValidator, looks_like_jwt
from ..authn.tokens import TokenRecord, token_hash
from ..authz.acl import ACL, AccessRequest, ACLResult
from ..authz.decision import Decision
from ..errors import ApiError
from ..identity.model import Namespace
from ..storage.directory import Directory, DirectoryView
from ..storage.store import Store
from .agents import AgentCaller, AgentDenied, evaluate_agent
from .policy_cache import PolicyCache


@dataclass(frozen=True)
class AccessServices:
    """What resolving and authorizing read: the objects one worker process shares between its transports
    (`app.state.access`, made by app.create_app)."""

    store: Store
    directory: Directory
    validator: JWTValidator
    policy_cache: PolicyCache


@dataclass
class AdminCaller:
    """An admin token from the token store, valid in the request's namespace."""

    token: TokenRecord
    token_namespace: Namespace
    acl: ACL
    remaining_uses: int | None = None  # after this request's use, for a limited-use token (the audit log shows it)

    def acl_path(self, namespace: Namespace, path: str) -> str:
        """The path the token's ACL sees: its policies are written relative to the token's own namespace."""
        return namespace.path[len(self.token_namespace.path) :] + path

    def evaluate(self, namespace: Namespace, path: str, operation: str, parameters: Any = None) -> ACLResult | None:
        """The ACL's verdict on `path` in `namespace`; None for a root token (allowed, the ACL never sees it)."""
        if self.token.is_root:
            return None
        return self.acl.evaluate(AccessRequest(self.acl_path(namespace, path), operation, parameters))

    def grants_sudo(self, namespace: Namespace, path: str, operation: str) -> bool:
        """Root, or `operation` allowed on `path` by a rule that also grants `sudo`."""
        result = self.evaluate(namespace, path, operation)
        return result is None or (result.allowed and (result.is_root or result.sudo))


Caller = AdminCaller | AgentCaller


class CallerRefused(ApiError):
    """No caller could be identified: 403 `permission denied`; `reason` (a code the audit log explains, see
    audit.entry.ADMIN_REFUSALS) is for the audit log only."""

    def __init__(self, reason: str):
        super().__init__(403, "permission denied")
        self.reason = reason


async def resolve_caller(
    services: AccessServices, view: DirectoryView, namespace: Namespace, token: str
) -> AdminCaller | AgentCaller:
    """The caller presenting `token` in `namespace`, with a use counted for a limited-use admin token.

    Raises CallerRefused (admin token) or AgentDenied (a JWT refused by the token, identity or registry
    layer, with its Decision)."""
    if looks_like_jwt(token):
        outcome = await evaluate_agent(services.validator, view, services.policy_cache, namespace, token)
        if isinstance(outcome, Decision):
            raise AgentDenied(outcome)
        return outcome
    record = view.token_by_hash(token_hash(token))
    if record is None or record.expired(time.time()):
        raise CallerRefused("token_unknown" if record is None else "token_expired")
    token_namespace = view.namespace_by_id(record.namespace_id)
    # A token works in its own namespace and the namespaces below it, never above or beside.
    if token_namespace is None or not namespace.path.startswith(token_namespace.path):
        raise CallerRefused("token_namespace_mismatch")
    texts = {} if record.is_root else view.policy_texts(record.namespace_id, record.policies)
    caller = AdminCaller(record, token_namespace, services.policy_cache.acl(texts))
    if record.num_uses > 0:
        remaining = consume_use(services.store, record)
        if remaining is None:  # its last use was taken by a concurrent request
            raise CallerRefused("token_unknown")
        caller.remaining_uses = remaining
    return caller


def consume_use(store: Store, record: TokenRecord) -> int | None:
    """Count one use of a limited-use token (the last use deletes it): the uses left, or None when the token
    is already gone."""
    with store.write() as tx:
        current = tx.token_by_hash(record.id_hash)
        if current is None:
            return None
        tx.delete_token(record.id_hash)
        if current.num_uses > 1:
            current.num_uses -= 1
            tx.insert_token(current)
            return current.num_uses
    return 0
