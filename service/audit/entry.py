"""Audit entries: one JSON object per line, Vault's request/response shape (DECISIONS.md#d38, DECISIONS.md#d21).

Pure functions over plain inputs (what the HTTP layer saw, the caller, the `Decision`), so the shape is
unit-tested without a server. Rules every entry follows:

- Tokens, JWTs and accessors appear only as `hmac-sha256:<hex>` under the per-server key.
- `request.data` and `response.data` keep their keys; every string value is HMAC'd, numbers, booleans
  and nulls stay clear (Vault's default). Bodies that are not JSON objects, or are too large, are left out.
- `auth.metadata` of an agent request carries the OAuth keys of DECISIONS.md#d38, the registration, and the
  `Decision` (`decision`, `reason`, `layer`, `detail`, `layers`), so the log says which layer refused and
  on which policies even when the caller saw only `permission denied` (DECISIONS.md#d5).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..authn.jwks import decode_base64url_alphabet_checked
from ..authn.tokens import TokenRecord
from ..authz.acl import ACLResult
from ..authz.decision import Decision
from ..clock import rfc3339
from ..identity.model import ROOT_NAMESPACE_ID
from .hashing import Hasher

# HTTP method → Vault operation (DECISIONS.md#d44); the route's own operation (create vs update) wins when known.
OPERATIONS = {"GET": "read", "HEAD": "read", "POST": "update", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}

# How a JWT request's token type is shown: the same word `auth/token/lookup-self` prints (DECISIONS.md#d34).
AGENT_TOKEN_TYPE = "ent"
ADMIN_TOKEN_TYPE = "service"

# Token refusals that happen after the signature verified (jwt.py checks claims only then): the claims of
# such a token are the issuer's, so the entry may name them. Before the signature nothing is trusted.
SIGNED_TOKEN_REASONS = frozenset({
    "claim_type_invalid", "exp_missing", "expired", "not_yet_valid", "issued_in_future", "lifetime_too_long",
    "audience_mismatch", "unique_id_missing", "subject_missing", "actor_invalid", "authorization_details_invalid",
})  # fmt: skip

# Why an admin token or a request without a usable token was refused (the caller saw `permission denied`).
ADMIN_REFUSALS = {
    "token_missing": "no token in X-Vault-Token or Authorization: Bearer",
    "token_unknown": "no such token",
    "token_expired": "the token has expired",
    "token_namespace_mismatch": "the token does not work in the request's namespace",
    "namespace_not_found": "the request's namespace does not exist",
    "too_large": "the token is larger than the listener's max_token_header_size (DECISIONS.md#d17)",
    "conflicting_tokens": "the X-Vault-Token and Authorization headers (or metadata) name different tokens",
}


_second: tuple[int, str] = (-1, "")  # the last whole second formatted, reused within that second


def timestamp() -> str:
    """RFC 3339 UTC with microseconds, as Vault's audit entries carry."""
    global _second
    now = time.time()
    second, text = _second
    if second != int(now):
        second = int(now)
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second = (second, text)
    return f"{text}.{int((now - second) * 1_000_000):06d}Z"


def operation_for(method: str, is_list: bool) -> str:
    if is_list:
        return "list"
    return OPERATIONS.get(method, method.lower())


@dataclass
class RequestFacts:
    """What the HTTP layer knows about one request."""

    id: str
    operation: str
    path: str  # namespace-relative, no /v1/
    namespace_id: str
    namespace_path: str  # "" for root, "team-a/" otherwise
    remote_address: str
    remote_port: int | None
    token: str  # the raw presented token; "" when none
    data: Any = None  # the parsed JSON body when it is an object (None otherwise)


def request_block(hasher: Hasher, facts: RequestFacts, accessor: str = "") -> dict[str, Any]:
    block: dict[str, Any] = {
        "id": facts.id,
        "operation": facts.operation,
        "client_token": hasher.hash(facts.token),
        "client_token_accessor": hasher.hash(accessor),
        "namespace": {"id": facts.namespace_id, "path": facts.namespace_path},
        "path": facts.path,
        "data": _hashed(hasher, facts.data),
        "remote_address": facts.remote_address,
    }
    if facts.remote_port is not None:
        block["remote_port"] = facts.remote_port
    return block


def _hashed(hasher: Hasher, data: Any) -> Any:
    if data is None:
        return None
    try:
        return hasher.values(data)
    except RecursionError:
        return None


# --- auth blocks ------------------------------------------------------------------------------------------------------


def anonymous_auth(hasher: Hasher, token: str, refusal: str = "") -> dict[str, Any]:
    """No usable caller: a public route (no token), or a token refused before it was identified."""
    auth: dict[str, Any] = {"client_token": hasher.hash(token)}
    if refusal:
        auth["metadata"] = {"decision": "deny", "reason": refusal, "detail": ADMIN_REFUSALS.get(refusal, "")}
        auth["policy_results"] = {"allowed": False, "granting_policies": []}
    return auth


ROUTE_REFUSED = "route_refused"


def refused_by_route(auth: dict[str, Any]) -> dict[str, Any]:
    """A 403 the route gave after (or without) its authorization check, e.g. `sudo` missing or an agent on
    an operators-only route: the entry must still say deny, and why."""
    metadata = dict(auth.get("metadata") or {})
    if metadata.get("decision") == "deny":
        return auth
    metadata.update(decision="deny", reason=ROUTE_REFUSED,
                    detail="the route refused the request beyond the authorization check")  # fmt: skip
    return {**auth, "metadata": metadata, "policy_results": {"allowed": False, "granting_policies": []}}


def admin_auth(
    hasher: Hasher,
    token: str,
    record: TokenRecord,
    token_namespace_id: str,
    token_namespace_path: str,
    result: ACLResult | None,
    authorized: bool,
    remaining_uses: int | None = None,
) -> dict[str, Any]:
    """An admin token's auth block; `result` is None for root (which the ACL never sees).

    `authorized` says whether the route reached its authorization check; before that (or without one)
    there is no decision to report. `remaining_uses` is set for a limited-use token: the uses left after
    this request consumed one (0: this was its last, and the token is gone).
    """
    metadata: dict[str, Any] = dict(record.meta)
    auth: dict[str, Any] = {
        "client_token": hasher.hash(token),
        "accessor": hasher.hash(record.accessor),
        "display_name": record.display_name,
        "policies": list(record.policies),
        "token_policies": list(record.policies),
        "identity_policies": [],
        "metadata": metadata,
        "entity_id": record.entity_id,
        "token_type": ADMIN_TOKEN_TYPE,
        "token_issue_time": rfc3339(record.creation_time) if record.creation_time else "",
    }
    if record.expire_time is not None:
        auth["token_ttl"] = max(0, int(record.expire_time - record.creation_time))
    if remaining_uses is not None:
        auth["remaining_uses"] = remaining_uses
    if not authorized:
        return auth
    if result is None:  # root
        allowed, reason, granting = True, "root", ("root",)
    else:
        allowed, reason, granting = result.allowed, result.reason, result.granting_policies
    # Ours win over token meta of the same name, so a token's own metadata cannot forge a decision.
    metadata["decision"] = "allow" if allowed else "deny"
    metadata["reason"] = reason
    auth["policy_results"] = {
        "allowed": allowed,
        "granting_policies": [_policy_ref(name, token_namespace_id, token_namespace_path) for name in granting]
        if allowed
        else [],
    }
    return auth


def agent_auth(hasher: Hasher, token: str, caller: Any, decision: Decision | None) -> dict[str, Any]:
    """A JWT request that was validated and resolved (`caller` is an `AgentCaller`)."""
    validated = caller.token
    resolution = caller.resolution
    subject = resolution.subject
    baseline = list(caller.baseline_policies)
    from_identity = set(subject.policies) | set(caller.groups.policies())  # the entity's and its groups'
    identity = [p for p in baseline if p in from_identity]
    metadata = jwt_metadata(validated.claims, validated.unique_id, validated.audiences,
                            validated.transaction, validated.authorization_details)  # fmt: skip
    if resolution.actor is not None:
        metadata["actor_entity_id"] = resolution.actor.id
        metadata["actor_entity_name"] = resolution.actor.name
    metadata["agent_registration_id"] = resolution.registration.id
    metadata["agent_display_name"] = resolution.registration.display_name
    issued = validated.issued_at or validated.not_before or validated.expires_at
    auth: dict[str, Any] = {
        "client_token": hasher.hash(token),
        "accessor": hasher.hash(caller.accessor),
        "display_name": caller.display_name,
        "policies": baseline,
        "token_policies": [p for p in baseline if p not in identity],
        "identity_policies": identity,
        "metadata": metadata,
        "entity_id": subject.id,
        "token_type": AGENT_TOKEN_TYPE,
        "token_issue_time": rfc3339(issued),
        "token_ttl": max(0, int(validated.expires_at - issued)),
    }
    if decision is not None:
        metadata.update(decision.to_audit())
        auth["policy_results"] = _agent_policy_results(decision, subject.namespace_id)
    return auth


def refused_agent_auth(hasher: Hasher, token: str, decision: Decision) -> dict[str, Any]:
    """A JWT refused before an `AgentCaller` existed (token, identity or registry layer)."""
    metadata: dict[str, Any] = {}
    if decision.layer != "token" or decision.reason in SIGNED_TOKEN_REASONS:
        metadata.update(_signed_claims(token))
    metadata.update(decision.to_audit())
    return {
        "client_token": hasher.hash(token),
        "metadata": metadata,
        "token_type": AGENT_TOKEN_TYPE,
        "policy_results": {"allowed": False, "granting_policies": []},
    }


def jwt_metadata(
    claims: Mapping[str, Any],
    unique_id: str,
    audiences: tuple[str, ...] | list[str],
    transaction: str | None,
    authorization_details: Any,
) -> dict[str, Any]:
    """The OAuth keys of DECISIONS.md#d38 (the actor keys are added by the caller, delegated requests only)."""
    metadata: dict[str, Any] = {"jwt_unique_id": unique_id}
    issuer = claims.get("iss")
    if isinstance(issuer, str):
        metadata["jwt_issuer"] = issuer
    if transaction is not None:
        metadata["jwt_transaction_claim"] = transaction
    metadata["jwt_audience_claim"] = list(audiences)
    if authorization_details is not None:
        metadata["jwt_authorization_details"] = [dict(entry) for entry in authorization_details]
    return metadata


def _signed_claims(token: str) -> dict[str, Any]:
    """DECISIONS.md#d38 keys read from a token whose signature verified but which was refused later.

    The unique id follows the default of DECISIONS.md#d3 (`jti`, else `uti`); a profile with another
    unique_id_claim is not consulted here, since the refused request never settled which profile applied.
    """
    try:
        payload = token.split(".")[1]
        claims = json.loads(decode_base64url_alphabet_checked(payload))
    except (IndexError, ValueError, RecursionError):
        return {}
    if not isinstance(claims, dict):
        return {}
    metadata: dict[str, Any] = {}
    unique_id = claims.get("jti") or claims.get("uti")
    if isinstance(unique_id, str):
        metadata["jwt_unique_id"] = unique_id
    if isinstance(claims.get("iss"), str):
        metadata["jwt_issuer"] = claims["iss"]
    if isinstance(claims.get("txn"), str):
        metadata["jwt_transaction_claim"] = claims["txn"]
    aud = claims.get("aud")
    if isinstance(aud, str):
        metadata["jwt_audience_claim"] = [aud]
    elif isinstance(aud, list) and all(isinstance(a, str) for a in aud):
        metadata["jwt_audience_claim"] = aud
    if isinstance(claims.get("authorization_details"), list):
        metadata["jwt_authorization_details"] = claims["authorization_details"]
    return metadata


def _agent_policy_results(decision: Decision, namespace_id: str) -> dict[str, Any]:
    """Vault's `policy_results`: on an allow, the baseline and ceiling policies that granted it."""
    granting: list[dict[str, Any]] = []
    if decision.allowed:
        seen: set[str] = set()
        for layer in ("baseline", "ceiling"):
            for name in decision.policies(layer):
                if name not in seen:
                    seen.add(name)
                    granting.append(_policy_ref(name, namespace_id, None))
    return {"allowed": decision.allowed, "granting_policies": granting}


def _policy_ref(name: str, namespace_id: str, namespace_path: str | None) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": name, "namespace_id": namespace_id or ROOT_NAMESPACE_ID, "type": "acl"}
    if namespace_path is not None:
        ref["namespace_path"] = namespace_path
    return ref


# --- entries ----------------------------------------------------------------------------------------------------------


def request_entry(auth: dict[str, Any], request: dict[str, Any], error: str = "") -> dict[str, Any]:
    return {"time": timestamp(), "type": "request", "auth": auth, "request": request, "error": error}


def evaluation_entry(auth: dict[str, Any], request: dict[str, Any], error: str = "") -> dict[str, Any]:
    """The decision API's verdict on an agent token: `auth` is the agent's (with the decision), `request`
    the operation and path asked about, its `id` and `asked_by` those of the asking request."""
    return {"time": timestamp(), "type": "evaluation", "auth": auth, "request": request, "error": error}


def response_entry(
    hasher: Hasher,
    auth: dict[str, Any],
    request: dict[str, Any],
    status: int,
    body: Any,
    include_data: bool = True,
) -> dict[str, Any]:
    """`body` is the parsed JSON response (None when it was not JSON or too large to keep)."""
    response: dict[str, Any] = {"status_code": status}
    error = ""
    if isinstance(body, dict) and isinstance(body.get("errors"), list) and status >= 400:
        error = "; ".join(str(e) for e in body["errors"])
    elif isinstance(body, dict) and include_data:
        if "request_id" in body and "data" in body:  # Vault's envelope
            response["data"] = _hashed(hasher, body.get("data"))
            if body.get("warnings"):
                response["warnings"] = list(body["warnings"])
            if body.get("auth"):
                response["auth"] = _response_auth(hasher, body["auth"])
        else:  # status routes answer with a bare object
            response["data"] = _hashed(hasher, body)
    return {"time": timestamp(), "type": "response", "auth": auth, "request": request, "response": response,
            "error": error}  # fmt: skip


def _response_auth(hasher: Hasher, auth: Any) -> Any:
    """A new token in a response (`auth/token/create`): its id and accessor only as HMAC."""
    if not isinstance(auth, dict):
        return None
    shown = dict(auth)
    for key in ("client_token", "accessor"):
        if isinstance(shown.get(key), str):
            shown[key] = hasher.hash(shown[key])
    return shown


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return str(value)


# ASCII-only output: every control character and line break inside a value is escaped.
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=_jsonable)


def encode_block(block: dict[str, Any]) -> str:
    """One block's JSON as `encode` writes it, for a `memo` entry made ahead of time."""
    return _ENCODER.encode(block)


def encode(*entries: dict[str, Any], memo: dict[int, tuple[Any, str]] | None = None) -> bytes:
    """JSON lines; strings are escaped, so no value can break a line or forge another entry.

    A request's two entries share their `auth` and `request` blocks; with the same `memo` across calls
    each block object is encoded once (it must not change after its first encoding). `memo` maps a block's
    id to (the block, its JSON).
    """
    memo = {} if memo is None else memo
    lines = []
    for entry in entries:
        members = []
        for name, value in entry.items():
            if name in ("auth", "request") and isinstance(value, dict):
                cached = memo.get(id(value))
                if cached is None or cached[0] is not value:
                    cached = memo[id(value)] = (value, _ENCODER.encode(value))  # keeps `value` alive: ids stay unique
                text = cached[1]
            else:
                text = _ENCODER.encode(value)
            members.append(f"{_ENCODER.encode(name)}:{text}")
        lines.append("{" + ",".join(members) + "}\n")
    return "".join(lines).encode("ascii")
