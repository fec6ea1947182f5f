"""The decision for one agent request: baseline ∩ ceiling ∩ authorization_details (SPEC B §3.5, D8, D20).

Baseline and ceiling are separate ACLs evaluated independently (never merged); the ceiling applies in
direct and delegated requests alike (D8). `authorization_details` is required unless the profile or the
governing registration makes it optional; when present it is always enforced (SPEC B §4.3).
"""

from __future__ import annotations

from .acl import ACL, AccessRequest
from .decision import Decision, LayerOutcome
from .rar import AuthorizationDetails


def decide(
    request: AccessRequest,
    baseline: ACL,
    ceiling: ACL,
    details: AuthorizationDetails | None,
    rar_optional: bool,
    prior: tuple[LayerOutcome, ...] = (),
) -> Decision:
    """Never raises; the first refusing layer decides, and every layer passed is recorded."""
    outcomes = prior
    if details is None and not rar_optional:
        return Decision.deny("rar_required", "authorization_details_required", "the token carries no "
                             "authorization_details and neither the profile nor the registration makes it optional",
                             outcomes)  # fmt: skip
    for layer, acl in (("baseline", baseline), ("ceiling", ceiling)):
        result = acl.evaluate(request)
        if not result.allowed:
            detail = f"{layer} policies {list(acl.policy_names)} do not allow {request.operation} on {request.path}"
            outcome = LayerOutcome(layer, False, result.reason, result.granting_policies, detail)
            return Decision(False, f"{layer}_{result.reason}", layer, detail, outcomes + (outcome,))
        outcomes += (LayerOutcome(layer, True, result.reason, result.granting_policies),)
    if details is not None:
        rar = details.evaluate(request)
        if not rar.allowed:
            detail = f"no authorization_details entry allows {request.operation} on {request.path}"
            if rar.reason == "rar_denied":
                detail = f"authorization_details entry {rar.entries[0]} denies {request.operation} on {request.path}"
            outcome = LayerOutcome("rar", False, rar.reason, (), detail)
            return Decision(False, rar.reason, "rar", detail, outcomes + (outcome,))
        entries = tuple(f"authorization_details[{i}]" for i in rar.entries)
        outcomes += (LayerOutcome("rar", True, rar.reason, entries),)
    else:
        outcomes += (LayerOutcome("rar", True, "rar_optional", ()),)
    return Decision.allow(outcomes)
