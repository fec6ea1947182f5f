"""The decision for one agent request: baseline ∩ ceiling ∩ authorization_details (DECISIONS.md#d35, #d8,
#d20).

Baseline and ceiling are separate ACLs evaluated independently (never merged); the ceiling applies in
direct and delegated requests alike (DECISIONS.md#d8). `authorization_details` is required unless the profile or the
governing registration makes it optional; when present it is always enforced (DECISIONS.md#d37).

This runs on every agent request, so the allow path builds nothing it does not return.
"""

from __future__ import annotations

from .acl import ACL, AccessRequest, ACLResult
from .decision import Decision, LayerOutcome
from .rar import MAX_ENTRIES, AuthorizationDetails

_ENTRY_LABELS = tuple(f"authorization_details[{i}]" for i in range(MAX_ENTRIES))
_RAR_OPTIONAL = LayerOutcome("rar", True, "rar_optional", ())
_RAR_REQUIRED_DETAIL = (
    "the token carries no authorization_details and neither the profile nor the registration makes it optional"
)


def decide(
    request: AccessRequest,
    baseline: ACL,
    ceiling: ACL,
    details: AuthorizationDetails | None,
    rar_optional: bool,
    prior: tuple[LayerOutcome, ...] = (),
) -> Decision:
    """Never raises; the first refusing layer decides, and every layer passed is recorded."""
    if details is None and not rar_optional:
        return Decision.deny("rar_required", "authorization_details_required", _RAR_REQUIRED_DETAIL, prior)
    base = baseline.evaluate(request)
    if not base.allowed:
        return _acl_denied("baseline", baseline, base, request, prior)
    base_outcome = LayerOutcome("baseline", True, base.reason, base.granting_policies)
    ceil = ceiling.evaluate(request)
    if not ceil.allowed:
        return _acl_denied("ceiling", ceiling, ceil, request, prior + (base_outcome,))
    ceil_outcome = LayerOutcome("ceiling", True, ceil.reason, ceil.granting_policies)
    if details is None:
        return Decision(True, "allowed", "", "", prior + (base_outcome, ceil_outcome, _RAR_OPTIONAL))
    rar = details.evaluate(request)
    if not rar.allowed:
        if rar.reason == "rar_denied":
            detail = f"authorization_details entry {rar.entries[0]} denies {request.operation} on {request.path}"
        else:
            detail = f"no authorization_details entry allows {request.operation} on {request.path}"
        outcome = LayerOutcome("rar", False, rar.reason, (), detail)
        return Decision(False, rar.reason, "rar", detail, prior + (base_outcome, ceil_outcome, outcome))
    rar_outcome = LayerOutcome("rar", True, rar.reason, tuple(_ENTRY_LABELS[i] for i in rar.entries))
    return Decision(True, "allowed", "", "", prior + (base_outcome, ceil_outcome, rar_outcome))


def _acl_denied(
    layer: str, acl: ACL, result: ACLResult, request: AccessRequest, prior: tuple[LayerOutcome, ...]
) -> Decision:
    detail = f"{layer} policies {list(acl.policy_names)} do not allow {request.operation} on {request.path}"
    outcome = LayerOutcome(layer, False, result.reason, result.granting_policies, detail)
    return Decision(False, f"{layer}_{result.reason}", layer, detail, prior + (outcome,))
