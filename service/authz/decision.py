"""One `Decision` per agent request: what was decided, by which layer, why, and on whose policies.

The HTTP answer, the audit entry and `vaultguard explain` are all rendered from this object, so they
cannot disagree (DECISIONS.md#d51). Callers see only the messages of DECISIONS.md#d5; the reason code and detail are for
the
audit log and for operators.
"""

from __future__ import annotations

from typing import NamedTuple

# The layers in the order a request passes them.
LAYERS = ("token", "identity", "registry", "rar_required", "baseline", "ceiling", "rar")

RAR_NO_MATCH_ERROR = (
    "2 errors occurred:\n\t* RAR_NO_MATCH: No valid authorization_details claim found matching this request."
    "\n\t* permission denied\n\n"
)
RAR_REQUIRED_ERROR = "authorization_details claim is required"


class LayerOutcome(NamedTuple):
    """One layer's verdict. Tuples, not dataclasses: a warm request builds several within a 5 µs budget."""

    layer: str
    allowed: bool
    reason: str
    policies: tuple[str, ...] = ()
    detail: str = ""


class Decision(NamedTuple):
    allowed: bool
    reason: str  # stable code of the deciding check ("allowed" when allowed)
    layer: str  # the layer that denied; "" when allowed
    detail: str = ""
    outcomes: tuple[LayerOutcome, ...] = ()

    @classmethod
    def deny(
        cls, layer: str, reason: str, detail: str = "", outcomes: tuple[LayerOutcome, ...] = ()
    ) -> Decision:
        return cls(False, reason, layer, detail, outcomes + (LayerOutcome(layer, False, reason, (), detail),))

    def policies(self, layer: str) -> tuple[str, ...]:
        for outcome in self.outcomes:
            if outcome.layer == layer:
                return outcome.policies
        return ()

    def caller_error(self) -> tuple[int, list[str]]:
        """Status and `errors` for the caller: never which check failed, beyond the two documented forms.

        DECISIONS.md#d5.
        """
        if self.allowed:
            raise ValueError("an allowed decision has no error")
        if self.layer == "rar_required":
            return 403, [RAR_REQUIRED_ERROR]
        if self.layer == "rar":
            return 403, [RAR_NO_MATCH_ERROR]
        return 403, ["permission denied"]

    def to_audit(self) -> dict:
        return {
            "decision": "allow" if self.allowed else "deny",
            "reason": self.reason,
            "layer": self.layer,
            "detail": self.detail,
            "layers": [
                {"layer": o.layer, "allowed": o.allowed, "reason": o.reason, "policies": list(o.policies)}
                for o in self.outcomes
            ],
        }
