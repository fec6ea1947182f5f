"""The decision API's one evaluation, behind both front ends: HTTP `sys/authorize` and gRPC `Check`.

A resource server that is not this service asks whether an agent's token may perform one operation on one
path in a namespace. The answer comes from exactly the code an agent request to this service goes through
(`evaluate_agent`, then `AgentCaller.decide`), so the two can never disagree. Nothing here imports a web
framework: the gRPC server runs it without FastAPI.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..authn.jwt import JWTValidator, looks_like_jwt
from ..authn.tokens import TokenRecord, token_hash
from ..authz.acl import ACL, AccessRequest, ACLResult
from ..authz.decision import Decision
from ..identity.model import ROOT_NAMESPACE_ID, Namespace
from ..storage.directory import Directory
from ..storage.store import Store
from . import fields as f
from .agents import AgentCaller, evaluate_agent
from .errors import bad_request

if TYPE_CHECKING:  # the web layer's cache class; only its type is needed here
    from .deps import PolicyCache

OPERATIONS = ("read", "list", "create", "update", "patch", "delete")
DECISION_PATH = "sys/authorize"
EXPLAIN_PATH = "sys/authorize/explain"
MAX_PATH = 4096
MAX_PARAMETERS = 1000
_FIELDS = {
    "token": f.Field("string", 1 << 20),  # size limits of JWTs are the validator's (a `too_large` decision)
    "operation": f.Field("string", 16),
    "path": f.Field("string", MAX_PATH),
}


@dataclass(frozen=True)
class DecisionServices:
    """What an evaluation reads: the same objects the HTTP app uses (one set per worker process)."""

    store: Store
    directory: Directory
    validator: JWTValidator
    policy_cache: PolicyCache

    @classmethod
    def from_state(cls, state: Any) -> DecisionServices:
        """From the application's `app.state` (see app.create_app)."""
        return cls(state.store, state.directory, state.jwt_validator, state.policy_cache)


@dataclass(frozen=True)
class CheckQuery:
    """One question: may `token` perform `operation` on `path` (namespace-relative) with `parameters`?"""

    token: str
    operation: str
    path: str
    parameters: Mapping[str, Any] | None = None

    def access_request(self) -> AccessRequest:
        return AccessRequest(self.path, self.operation, self.parameters)


@dataclass(frozen=True)
class CheckResult:
    """The decision, the capabilities every layer allows on the path, and the agent when it got that far."""

    decision: Decision
    capabilities: tuple[str, ...]
    caller: AgentCaller | None

    def answer(self, *, details: bool) -> dict[str, Any]:
        """The `data` of `sys/authorize`; the layers only for callers who may see the explanation."""
        data: dict[str, Any] = {
            "allowed": self.decision.allowed,
            "reason": self.decision.reason,
            "capabilities": list(self.capabilities),
        }
        if details:
            data["decision"] = self.decision.to_audit()  # the very rendering the audit log carries
        return data


def parse_query(body: Mapping[str, Any]) -> tuple[CheckQuery, list[str]]:
    """The question from a request body; raises a 400 ApiError naming the field. Unknown fields warn."""
    values, warnings = f.parse({k: v for k, v in body.items() if k != "parameters"}, _FIELDS)
    token = body.get("token")
    if token is None or token == "":
        raise bad_request('field "token": is required (the agent\'s JWT, as presented)')
    if not isinstance(token, str):
        raise bad_request('field "token": expected a string')
    operation = values.get("operation", "")
    if operation not in OPERATIONS:
        shown = f'"{operation}"' if operation else "missing"
        raise bad_request(f'field "operation": must be one of {", ".join(OPERATIONS)} (got {shown})')
    path = values.get("path", "").lstrip("/")
    if not path:
        raise bad_request('field "path": is required (a Vault path relative to the namespace, without /v1/)')
    if "\x00" in path or any(segment in (".", "..") for segment in path.split("/")):
        raise bad_request('field "path": must not contain NUL characters or "." / ".." segments')
    parameters = body.get("parameters")
    if parameters is not None:
        if not isinstance(parameters, Mapping):
            got = _kind(parameters)
            raise bad_request(f'field "parameters": expected an object of parameter names to values, got {got}')
        if len(parameters) > MAX_PARAMETERS:
            raise bad_request(f'field "parameters": more than {MAX_PARAMETERS} parameters')
        for name in parameters:
            if not isinstance(name, str) or not name or "\x00" in name:
                raise bad_request('field "parameters": parameter names must be non-empty strings')
    return CheckQuery(token, operation, path, parameters), warnings


def _kind(value: Any) -> str:
    return "a list" if isinstance(value, list) else f"a {type(value).__name__}"


async def check(services: DecisionServices, namespace: Namespace, query: CheckQuery) -> CheckResult:
    """Evaluate `query` in `namespace`. Never raises for anything about the token: a refusal is a result."""
    outcome = await evaluate_agent(
        services.validator, services.directory.current(), services.policy_cache, namespace, query.token
    )
    if isinstance(outcome, Decision):
        return CheckResult(outcome, ("deny",), None)
    decision = outcome.decide(query.access_request())
    return CheckResult(decision, tuple(sorted(outcome.capabilities(query.path))), outcome)


# -- the asking caller, for front ends without the HTTP dependencies (gRPC) -------------------------------------------


def namespace_at(store: Store, path: str) -> Namespace | None:
    """The namespace at `path` ("" or "/" for root), or None when there is none."""
    path = path.strip("/")
    with store.read() as tx:
        if not path:
            return tx.namespace_by_id(ROOT_NAMESPACE_ID)
        return tx.namespace_by_path(path + "/")


async def asker_may(services: DecisionServices, namespace: Namespace, token: str, operation: str, path: str) -> bool:
    """Whether the caller presenting `token` may perform `operation` on `path` in `namespace`.

    The same rules as an HTTP request (deps.context, then ctx.authorize): an agent's JWT by baseline ∩
    ceiling ∩ RAR; an admin token by its ACL, valid in its own namespace and those below it, a use counted
    for limited-use tokens. (The HTTP front end uses deps.context; this twin serves gRPC.)
    """
    if looks_like_jwt(token):
        outcome = await evaluate_agent(
            services.validator, services.directory.current(), services.policy_cache, namespace, token
        )
        return isinstance(outcome, AgentCaller) and outcome.decide(AccessRequest(path, operation)).allowed
    with services.store.read() as tx:
        record = tx.token_by_hash(token_hash(token))
        if record is None or record.expired(time.time()):
            return False
        token_namespace = tx.namespace_by_id(record.namespace_id)
        texts = {} if record.is_root else tx.policy_texts(record.namespace_id, record.policies)
    # A token works in its own namespace and the namespaces below it, never above or beside.
    if token_namespace is None or not namespace.path.startswith(token_namespace.path):
        return False
    if record.num_uses > 0 and not _consume_use(services.store, record):
        return False
    if record.is_root:
        return True
    relative = namespace.path[len(token_namespace.path) :]
    return services.policy_cache.acl(texts).evaluate(AccessRequest(relative + path, operation)).allowed


def acl_grants_sudo(acl: ACL, path: str, operation: str) -> bool:
    """Whether `acl` allows `operation` on `path` through a rule that also grants `sudo`."""
    result: ACLResult = acl.evaluate(AccessRequest(path, operation))
    return result.allowed and (result.is_root or result.sudo)


def _consume_use(store: Store, record: TokenRecord) -> bool:
    """Limited-use tokens: count this use; the last use deletes the token. False when it is already gone."""
    with store.write() as tx:
        current = tx.token_by_hash(record.id_hash)
        if current is None:
            return False
        tx.delete_token(record.id_hash)
        if current.num_uses > 1:
            current.num_uses -= 1
            tx.insert_token(current)
    return True
