"""`vaultguard explain`: one agent request, step by step, rendered from its `Decision` (DECISIONS.md#d51).

Whether each layer passed, failed or was not reached, and its reason code, come from the Decision's
outcomes only, so the explanation cannot disagree with the HTTP answer or the audit line. What is added
around them (the profile found, the token checks, the parties and policies looked at, the RAR entries) is
description. This module is pure: `api/explain.py` gathers the facts; `render_text` prints a report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vaultguard.rules.oauth import ALGORITHMS

from ..authn.jwt import REASONS
from .decision import LAYERS, Decision

PASSED, FAILED, NOT_REACHED = "passed", "failed", "not_reached"

# The token checks in the order the validator runs them (authn/jwt.py), each with the reason codes it can
# fail with. A code two checks share is placed by `failing_check`.
TOKEN_CHECKS: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("size", "at most the maximum token size, before any decoding (DECISIONS.md#d17)", frozenset({"too_large"})),
    ("format", "a compact JWS: three base64url segments of JSON objects, no duplicate members, not a JWE",
     frozenset({"malformed", "encrypted_token", "duplicate_member"})),
    ("header", "`alg` present and asymmetric (DECISIONS.md#d22), no `crit`, not a nested token, `kid` a string",
     frozenset({"header_invalid", "alg_none", "hmac_not_allowed", "crit_unsupported", "nested_token"})),
    ("profile", "`iss` names an enabled profile in the request's namespace (DECISIONS.md#d19)",
     frozenset({"issuer_missing", "no_profile", "profile_disabled"})),
    ("algorithm", "`alg` is one of the profile's supported_algorithms (DECISIONS.md#d22)",
     frozenset({"alg_not_allowed"})),
    ("typ", "the `typ` header is allowed for the profile's jwt_type (DECISIONS.md#d1)", frozenset({"typ_invalid"})),
    ("key", "one of the profile's keys matches `kid` and `alg` (DECISIONS.md#d14)",
     frozenset({"jwks_unavailable", "kid_unknown", "kid_ambiguous", "key_alg_mismatch"})),
    ("signature", "the signature verifies with that key", frozenset({"signature_invalid"})),
    ("lifetime", "`exp` present and not passed; `nbf`/`iat` not in the future; at most 24 h long (DECISIONS.md#d4)",
     frozenset({"exp_missing", "expired", "not_yet_valid", "issued_in_future", "lifetime_too_long"})),
    ("audience", "`aud` holds one of the profile's audiences", frozenset({"audience_mismatch"})),
    ("claims", "the unique id (DECISIONS.md#d3), user_claim and actor_claim (DECISIONS.md#d9) are usable strings; "
     "the groups_claim, if present, a bounded array of strings",
     frozenset({"unique_id_missing", "subject_missing", "actor_invalid", "claim_type_invalid", "groups_invalid"})),
    ("authorization_details", "absent, or an array of at most 256 objects (DECISIONS.md#d7)",
     frozenset({"authorization_details_invalid"})),
)  # fmt: skip

LAYER_TITLES = {
    "token": "token",
    "identity": "subject and actor",
    "registry": "agent registration",
    "rar_required": "authorization_details required",
    "baseline": "baseline (subject's and its groups' policies)",
    "ceiling": "ceiling (agent's registration)",
    "rar": "authorization_details (RAR)",
}


def failing_check(reason: str, header: Mapping[str, Any] | None, claims: Mapping[str, Any] | None) -> str | None:
    """The token check that refused with `reason`; the presented (unverified) header and claims place the
    codes two checks share. None for a code no check knows."""
    if reason == "alg_not_allowed" and header is not None and header.get("alg") not in ALGORITHMS:
        return "header"  # refused before any profile was looked at (DECISIONS.md#d22)
    if reason == "claim_type_invalid" and claims is not None and not isinstance(claims.get("iss"), str):
        return "profile"  # `iss` itself is not a string
    for name, _rule, codes in TOKEN_CHECKS:
        if reason in codes:
            return name
    return None


def token_checks(decision: Decision, failed: str | None) -> list[dict[str, Any]]:
    """Every token check with its status: all passed when the token layer passed; else those before the
    failing check passed, it failed (with the Decision's reason and detail) and the rest were not reached."""
    outcome = _outcome(decision, "token")
    checks: list[dict[str, Any]] = []
    status = PASSED if outcome is not None else NOT_REACHED
    for name, rule, _codes in TOKEN_CHECKS:
        entry: dict[str, Any] = {"check": name, "rule": rule, "status": status}
        if outcome is not None and not outcome.allowed and name == failed:
            reason = REASONS.get(outcome.reason)
            entry.update(status=FAILED, reason=outcome.reason, detail=outcome.detail)
            if reason is not None:
                entry["source"] = reason.source
            status = NOT_REACHED
        checks.append(entry)
    return checks


def layer_steps(decision: Decision) -> list[dict[str, Any]]:
    """One step per layer, in order, with the status, reason, detail and policies the Decision recorded.

    A layer without an outcome was not reached, unless a later layer has one: layers run in order, so it
    passed without leaving a record (the decision core records `rar_required` only when it refuses).
    """
    steps = []
    recorded = {outcome.layer for outcome in decision.outcomes}
    for position, layer in enumerate(LAYERS):
        outcome = _outcome(decision, layer)
        step: dict[str, Any] = {"layer": layer, "title": LAYER_TITLES[layer]}
        if outcome is None and recorded.intersection(LAYERS[position + 1 :]):
            step.update(status=PASSED, policies=[])
        elif outcome is None:
            step["status"] = NOT_REACHED
        else:
            step.update(
                status=PASSED if outcome.allowed else FAILED,
                reason=outcome.reason,
                detail=outcome.detail,
                policies=list(outcome.policies),
            )
        steps.append(step)
    return steps


def _outcome(decision: Decision, layer: str):  # noqa: ANN202
    for outcome in decision.outcomes:
        if outcome.layer == layer:
            return outcome
    return None


# -- the readable report (the CLI prints it from the API's JSON) -------------------------------------------------------

_MARK = {PASSED: "[ok]  ", FAILED: "[FAIL]", NOT_REACHED: "[--]  "}


def render_text(report: Mapping[str, Any]) -> str:
    """A step-by-step report of an explain answer (`data` of `sys/authorize/explain`)."""
    lines: list[str] = []
    verdict = "ALLOWED" if report.get("allowed") else "DENIED"
    head = f"{verdict}: {report.get('reason', '')}"
    if not report.get("allowed") and report.get("layer"):
        head += f" (at {report['layer']})"
    lines.append(head)
    if report.get("detail"):
        lines.append(f"  {report['detail']}")
    req = report.get("request") or {}
    params = req.get("parameters") or []
    where = req.get("namespace") or "root namespace"
    lines.append(f"request: {req.get('operation', '')} {req.get('path', '')} in {where}"
                 + (f" with parameters {', '.join(params)}" if params else ""))  # fmt: skip
    if report.get("capabilities") is not None:
        lines.append(f"capabilities on the path: {', '.join(report['capabilities']) or 'none'}")
    for number, step in enumerate(report.get("steps") or [], 1):
        lines.append("")
        status = step.get("status", NOT_REACHED)
        title = f"{_MARK.get(status, '[??]  ')} {number}. {step.get('title', step.get('layer', ''))}"
        if status == NOT_REACHED:
            title += ": not reached"
        elif step.get("reason"):
            title += f": {step['reason']}"
        lines.append(title)
        if status == FAILED and step.get("detail"):
            lines.append(f"         {step['detail']}")
        lines.extend("         " + line for line in _step_lines(step))
    return "\n".join(lines) + "\n"


def _step_lines(step: Mapping[str, Any]) -> list[str]:
    layer = step.get("layer")
    if layer == "token":
        return _token_lines(step)
    if layer == "identity":
        out = [f"delegated (on behalf of): {_yes(step.get('delegated'))}"] if step.get("delegated") is not None else []
        for role in ("subject", "actor"):
            party = step.get(role)
            if party:
                out.append(f"{role}: {_party(party)}")
        return out
    if layer == "registry":
        reg = step.get("registration")
        role = step.get("role", "")
        if reg:
            return [f"{role} registration {reg['id']} ({reg['display_name']}): ceiling policies "
                    f"{_names(reg.get('ceiling_policies'))}, optional_authorization_details "
                    f"{_yes(reg.get('optional_authorization_details'))}"]  # fmt: skip
        return [f"no registration for the {role}"] if role and step.get("status") == FAILED else []
    if layer == "rar_required":
        if "claim_present" not in step:
            return []
        by_profile, by_registration = _yes(step.get("profile_optional")), _yes(step.get("registration_optional"))
        return [f"claim present: {_yes(step['claim_present'])}; optional by profile: {by_profile}, "
                f"by registration: {by_registration}"]  # fmt: skip
    if layer in ("baseline", "ceiling"):
        out = []
        if "policies_named" in step:
            out.append(f"policies: {_names(step['policies_named'])}")
        if step.get("policies_missing"):
            out.append(f"named but missing (grant nothing): {_names(step['policies_missing'])}")
        if step.get("matched_pattern") is not None:
            out.append(f"deciding rule: path \"{step['matched_pattern']}\" "
                       f"capabilities {_names(step.get('rule_capabilities'))}")  # fmt: skip
        elif "matched_pattern" in step:
            out.append("no rule matches the path")
        if step.get("status") in (PASSED, FAILED) and step.get("policies"):
            verb = "granted by" if step["status"] == PASSED else "decided by"
            out.append(f"{verb}: {_names(step['policies'])}")
        if step.get("groups"):
            out.append("groups: " + "; ".join(f'{g["name"]} ({g["via"]})' for g in step["groups"]))
        sources = step.get("policy_sources") or {}
        for policy in step.get("policies") or ():
            if policy in sources:
                out.append(f"{policy} comes from: {', '.join(sources[policy])}")
        return out
    if layer == "rar":
        if step.get("claim_present") is False:
            return ["the token carries no authorization_details"]
        out = []
        for entry in step.get("entries") or []:
            text = f"[{entry['index']}] {entry['status']}"
            if entry.get("path") is not None:
                text += f": {entry.get('path')} {_names(entry.get('capabilities'))}"
            if entry.get("why"):
                text += f" ({entry['why']})"
            out.append(text)
        return out
    return []


def _token_lines(step: Mapping[str, Any]) -> list[str]:
    out = []
    profile = step.get("profile") or {}
    if profile.get("status") == "matched":
        out.append(f"profile: {profile['name']} (issuer {profile['issuer_id']}, config_id {profile['config_id']})")
    elif profile:
        out.append(f"profile: none: {profile.get('why', '')}")
        if profile.get("known_issuers"):
            out.append(f"  issuers trusted in this namespace: {', '.join(profile['known_issuers'])}")
    presented = step.get("presented")
    if presented:
        label = "claims" if presented.get("verified") else "claims (unverified)"
        claims = presented.get("claims") or {}
        shown = ", ".join(f"{k}={_short(v)}" for k, v in claims.items())
        header = presented.get("header") or {}
        out.append(f"header: {', '.join(f'{k}={_short(v)}' for k, v in header.items())}")
        out.append(f"{label}: {shown}")
    for check in step.get("checks") or []:
        text = f"{_MARK.get(check['status'], '')} {check['check']}"
        if check["status"] == FAILED:
            text += f": {check.get('reason', '')}: {check.get('detail', '')}"
            if check.get("source"):
                text += f" [{check['source']}]"
        out.append(text)
    return out


def _party(party: Mapping[str, Any]) -> str:
    text = f"{party.get('claim', '')}={_short(party.get('external_id'))}"
    if party.get("entity_id"):
        text += f" -> entity {party['entity_id']} ({party.get('entity_name', '')})"
        if party.get("disabled"):
            text += " DISABLED"
    elif "entity_id" in party:
        text += " -> no entity alias for this issuer"
    return text


def _names(values: Sequence[Any] | None) -> str:
    return "[" + ", ".join(str(v) for v in values or []) + "]"


def _yes(value: Any) -> str:
    return "yes" if value else "no"


def _short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
