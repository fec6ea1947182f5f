"""The admin-only explanation of one decision-API question (`sys/authorize/explain`, `vaultguard explain`).

The verdict of every layer comes from the `CheckResult`'s Decision (authz/explain.py renders it); this
module adds what an operator needs to act on it, read from storage: the profile the issuer maps to (or why
none), the token as presented, the subject, actor and registration, the policies each layer names and the
rule that decided, and each `authorization_details` entry (matched, denied, not matching, or skipped and
why). The token and its signature are never echoed. No web framework here.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from ..access.agents import AgentCaller, baseline_names
from ..access.callers import AccessServices
from ..authn.jwt import ValidatedToken
from ..authn.profiles import Profile, normalize_issuer
from ..authz import explain as steps
from ..authz.acl import ACL, AccessRequest
from ..identity.model import Namespace
from ..storage.store import Tx
from .decision_query import CheckQuery, CheckResult

MAX_SHOWN_ISSUERS = 20
_SHOWN_CLAIMS = ("iss", "sub", "aud", "jti", "uti", "iat", "nbf", "exp", "txn")
_SHOWN_HEADER = ("alg", "kid", "typ")


def explain(services: AccessServices, namespace: Namespace, query: CheckQuery, result: CheckResult) -> dict:
    """The report for `query`, already decided as `result` (same Decision, so the verdicts agree)."""
    decision = result.decision
    header, claims = _peek(query.token, services.validator.max_token_bytes)
    by_layer = {step["layer"]: step for step in steps.layer_steps(decision)}
    caller = result.caller
    request = query.access_request()
    with services.store.read() as tx:
        profile = caller.token.profile if caller is not None else _profile_for(tx, namespace, claims)
        token_step = by_layer["token"]
        token_step["profile"] = _describe_profile(tx, namespace, claims, profile)
        verified = token_step["status"] == steps.PASSED
        token_step["presented"] = _presented(header, claims, profile, verified)
        failed = steps.failing_check(decision.reason, header, claims) if decision.layer == "token" else None
        token_step["checks"] = steps.token_checks(decision, failed)
        if caller is not None:
            _describe_agent(by_layer, caller, request)
        elif verified and profile is not None and claims is not None:
            _describe_unresolved(tx, by_layer, namespace, profile, claims)
    return {
        "allowed": decision.allowed,
        "reason": decision.reason,
        "layer": decision.layer,
        "detail": decision.detail,
        "capabilities": list(result.capabilities),
        "request": {
            "namespace": namespace.path,
            "operation": query.operation,
            "path": query.path,
            "parameters": sorted(query.parameters or {}),
        },
        "steps": list(by_layer.values()),
        "decision": decision.to_audit(),
    }


# -- the token ---------------------------------------------------------------------------------------------------------


def _peek(token: str, limit: int) -> tuple[dict | None, dict | None]:
    """Header and claims as presented, WITHOUT verification (for description only); None when undecodable."""
    if len(token) > limit or token.count(".") != 2:
        return None, None
    return tuple(_segment(part) for part in token.split(".")[:2])  # type: ignore[return-value]


def _segment(part: str) -> dict | None:
    try:
        value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _issuer(claims: Mapping[str, Any] | None) -> str | None:
    issuer = claims.get("iss") if claims is not None else None
    return normalize_issuer(issuer) if isinstance(issuer, str) else None


def _profile_for(tx: Tx, namespace: Namespace, claims: Mapping[str, Any] | None) -> Profile | None:
    """The enabled profile the token's issuer maps to, chosen as the validator's lookup chooses it."""
    issuer = _issuer(claims)
    if issuer is None:
        return None
    candidates = [p for p in tx.profiles_by_issuer(namespace.id, issuer) if p.enabled]
    candidates.sort(key=lambda p: not p.local)
    return candidates[0] if candidates else None


def _describe_profile(
    tx: Tx, namespace: Namespace, claims: Mapping[str, Any] | None, profile: Profile | None
) -> dict[str, Any]:
    if profile is not None:
        return {
            "status": "matched",
            "name": profile.name,
            "config_id": profile.config_id,
            "issuer_id": profile.issuer_id,
            "jwt_type": profile.jwt_type,
            "use_jwks": profile.use_jwks,
            "audiences": list(profile.audiences),
        }
    where = f'namespace "{namespace.path}"' if namespace.path else "the root namespace"
    issuer = _issuer(claims)
    if claims is None:
        why = "the token's payload could not be decoded, so no issuer could be read"
    elif issuer is None:
        why = "the token has no `iss` claim (or it is not a string)"
    else:
        disabled = [p.name for p in tx.profiles_by_issuer(namespace.id, issuer)]
        if disabled:
            why = f"profile {', '.join(disabled)} trusts issuer {issuer} in {where} but is disabled"
        else:
            # Issuers are compared after their normalization (DECISIONS.md#d19).
            why = f"no profile in {where} trusts issuer {issuer} (issuers are compared after normalization)"
    known = sorted({p.issuer_id for p in tx.profiles(namespace.id)})
    return {"status": "none", "issuer": issuer, "why": why, "known_issuers": known[:MAX_SHOWN_ISSUERS]}


def _presented(
    header: Mapping[str, Any] | None, claims: Mapping[str, Any] | None, profile: Profile | None, verified: bool
) -> dict[str, Any] | None:
    if header is None and claims is None:
        return None
    shown_claims: dict[str, Any] = {}
    if claims is not None:
        names = list(_SHOWN_CLAIMS)
        if profile is not None:
            names += [c for c in (profile.user_claim, profile.groups_claim) if c and c not in names]
        shown_claims = {name: claims[name] for name in names if name in claims}
        actor_path = profile.actor_claim if profile is not None else "act.sub"
        actor = _at(claims, actor_path)
        if actor is not None:
            shown_claims[actor_path] = actor
        details = claims.get("authorization_details")
        if details is not None:
            shown_claims["authorization_details"] = f"{len(details)} entries" if isinstance(details, list) else "?"
    shown_header = {k: header[k] for k in _SHOWN_HEADER if k in header} if header is not None else {}
    return {"verified": verified, "header": shown_header, "claims": shown_claims}


def _at(claims: Mapping[str, Any], path: str) -> Any:
    value: Any = claims
    for name in path.split("."):
        if not isinstance(value, Mapping) or name not in value:
            return None
        value = value[name]
    return value


# -- the agent (every layer after the token) ---------------------------------------------------------------------------


def _describe_agent(by_layer: dict[str, dict], caller: AgentCaller, request: AccessRequest) -> None:
    token, resolution = caller.token, caller.resolution
    profile = token.profile
    identity = by_layer["identity"]
    identity["delegated"] = resolution.delegated
    identity["subject"] = _party("subject", profile.user_claim, token.subject, resolution.subject)
    if resolution.actor is not None:
        identity["actor"] = _party("actor", profile.actor_claim, token.actor, resolution.actor)
    registration = resolution.registration
    by_layer["registry"].update(
        role="actor" if resolution.delegated else "subject",
        registration={
            "id": registration.id,
            "display_name": registration.display_name,
            "entity_id": registration.entity_id,
            "ceiling_policies": list(registration.ceiling_policies),
            "optional_authorization_details": registration.optional_authorization_details,
        },
    )
    required = by_layer["rar_required"]
    required.update(
        claim_present=token.authorization_details is not None,
        profile_optional=profile.optional_authorization_details,
        registration_optional=registration.optional_authorization_details,
    )
    if required["status"] == steps.PASSED:  # passed without a record: say why it passed
        required["reason"] = "claim_present" if required["claim_present"] else "claim_optional"
    baseline_named = baseline_names(profile, resolution.subject, caller.groups)
    _describe_acl(by_layer["baseline"], caller.baseline, baseline_named, request)
    _describe_sources(by_layer["baseline"], caller, baseline_named)
    _describe_acl(by_layer["ceiling"], caller.ceiling, list(registration.ceiling_policies), request)
    _describe_rar(by_layer["rar"], caller, token, request)


def _describe_sources(step: dict, caller: AgentCaller, named: list[str]) -> None:
    """Where each baseline policy comes from: the subject entity, its groups (and how it is in each), or
    `default`; so an operator sees which group granted (or failed to grant) what."""
    subject, groups = caller.resolution.subject, caller.groups
    step["groups"] = [
        {"id": g.id, "name": g.name, "type": g.type, "via": groups.via[g.id], "policies": list(g.policies)}
        for g in groups.groups
    ]
    sources = {}
    for policy in named:
        found = ["entity"] if policy in subject.policies else []
        found += groups.granting(policy)
        sources[policy] = found or ["default (the profile does not set no_default_policy)"]
    step["policy_sources"] = sources


def _party(role: str, claim: str, external_id: str | None, entity: Any) -> dict[str, Any]:
    return {
        "role": role,
        "claim": claim,
        "external_id": external_id,
        "entity_id": entity.id,
        "entity_name": entity.name,
        "disabled": entity.disabled,
    }


def _describe_acl(step: dict, acl: ACL, named: list[str], request: AccessRequest) -> None:
    result = acl.evaluate(request)
    step["policies_named"] = named
    step["policies_missing"] = [name for name in named if name not in acl.policy_names]
    step["matched_pattern"] = result.matched_pattern
    step["rule_capabilities"] = sorted(result.capabilities)
    step["acl_reason"] = result.reason


def _describe_rar(step: dict, caller: AgentCaller, token: ValidatedToken, request: AccessRequest) -> None:
    raw = token.authorization_details
    step["claim_present"] = raw is not None
    if raw is None or caller.details is None:
        return
    skipped = dict(caller.details.skipped)
    compiled = dict(caller.details.entries)
    entries = []
    for index, entry in enumerate(raw):
        shown: dict[str, Any] = {"index": index, "type": entry.get("type"), "path": entry.get("path")}
        shown["capabilities"] = entry.get("capabilities")
        if index in skipped:
            shown.update(status="skipped", why=skipped[index])
        elif index in compiled:
            result = compiled[index].evaluate(request)
            if result.reason == "explicit_deny":
                shown.update(status="denies", why="a deny entry matching the request refuses it")
            elif result.allowed:
                shown.update(status="matches")
            else:
                shown.update(status="no_match", why=result.reason)
        else:
            shown.update(status="skipped", why="beyond the entries evaluated")
        entries.append(shown)
    step["entries"] = entries


# -- a token that named nobody usable (identity or registry refused) ---------------------------------------------------


def _describe_unresolved(
    tx: Tx, by_layer: dict[str, dict], namespace: Namespace, profile: Profile, claims: Mapping[str, Any]
) -> None:
    """Look the parties up again for the report (the Decision already says which layer refused and why)."""
    issuer = _issuer(claims) or ""
    subject_id = claims.get(profile.user_claim)
    actor_id = _at(claims, profile.actor_claim)
    identity = by_layer["identity"]
    identity["delegated"] = actor_id is not None
    parties = {"subject": _lookup_party(tx, namespace, issuer, "subject", profile.user_claim, subject_id)}
    if actor_id is not None:
        parties["actor"] = _lookup_party(tx, namespace, issuer, "actor", profile.actor_claim, actor_id)
    identity.update(parties)
    agent = parties.get("actor") or parties["subject"]
    role = "actor" if actor_id is not None else "subject"
    registry = by_layer["registry"]
    registry["role"] = role
    if agent.get("entity_id"):
        registration = tx.registration_by_entity(namespace.id, agent["entity_id"])
        registry["registration"] = None if registration is None else {
            "id": registration.id,
            "display_name": registration.display_name,
            "entity_id": registration.entity_id,
            "ceiling_policies": list(registration.ceiling_policies),
            "optional_authorization_details": registration.optional_authorization_details,
        }  # fmt: skip


def _lookup_party(tx: Tx, namespace: Namespace, issuer: str, role: str, claim: str, external_id: Any) -> dict:
    party: dict[str, Any] = {"role": role, "claim": claim, "external_id": external_id, "entity_id": None}
    if not isinstance(external_id, str):
        return party
    alias = tx.alias_by_issuer(namespace.id, issuer, external_id)
    entity = tx.entity_by_id(namespace.id, alias.canonical_id) if alias is not None else None
    if entity is not None:
        party.update(entity_id=entity.id, entity_name=entity.name, disabled=entity.disabled, alias_id=alias.id)
    return party
