"""The decision API's question and its one evaluation, behind both front ends: HTTP `sys/authorize` and
gRPC `Check`.

A resource server that is not this service asks whether an agent's token may perform one operation on one
path in a namespace. The answer comes from exactly the code an agent request to this service goes through
(`evaluate_agent`, then `AgentCaller.decide`), so the two can never disagree, and is audited as that
agent's decision (access.audit_trail). Nothing here imports a web framework: the gRPC server runs it
without FastAPI.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..access.agents import AgentCaller, evaluate_agent
from ..access.audit_trail import AccessRecord, write_evaluation_entry
from ..access.callers import AccessServices
from ..audit.log import AuditLog
from ..authz.acl import AccessRequest
from ..authz.decision import Decision
from ..errors import bad_request
from ..identity.model import Namespace
from . import fields as f

OPERATIONS = ("read", "list", "create", "update", "patch", "delete")
DECISION_PATH = "sys/authorize"
EXPLAIN_PATH = "sys/authorize/explain"
MAX_PATH = 4096
MAX_PARAMETERS = 1000
QUERY = f.Body(
    {
        "token": f.Field("string", 1 << 20),  # size limits of JWTs are the validator's (a `too_large` decision)
        "operation": f.Field("string", 16),
        "path": f.Field("string", MAX_PATH),
    },
    checked_elsewhere={  # by parse_query below
        "operation": {"type": "string", "enum": list(OPERATIONS)},
        "parameters": {"type": "object", "maxProperties": MAX_PARAMETERS},
    },
)


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
    values, warnings = QUERY.parse({k: v for k, v in body.items() if k != "parameters"})
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


async def evaluate_query(
    services: AccessServices, audit: AuditLog, record: AccessRecord, namespace: Namespace, query: CheckQuery
) -> CheckResult:
    """Evaluate `query` in `namespace` and write its evaluation entry (the agent's decision, with its reason
    code). Never raises for anything about the token: a refusal is a result. Raises AuditFailed (503) when
    the evaluation cannot be audited."""
    outcome = await evaluate_agent(
        services.validator, services.directory.current(), services.policy_cache, namespace, query.token
    )
    if isinstance(outcome, Decision):
        result = CheckResult(outcome, ("deny",), None)
    else:
        decision = outcome.decide(query.access_request())
        result = CheckResult(decision, tuple(sorted(outcome.capabilities(query.path))), outcome)
    write_evaluation_entry(
        audit, record, query.token, outcome, result.decision, query.operation, query.path, query.parameters
    )
    return result
