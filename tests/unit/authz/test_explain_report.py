"""The explanation of a Decision: token checks in the validator's order, layer verdicts only from the
Decision, and a readable report."""

import pytest

from vaultguard.service.authn.jwt import REASONS
from vaultguard.service.authz.decision import Decision, LayerOutcome
from vaultguard.service.authz.explain import (
    FAILED,
    NOT_REACHED,
    PASSED,
    TOKEN_CHECKS,
    failing_check,
    layer_steps,
    render_text,
    token_checks,
)

TOKEN_OK = LayerOutcome("token", True, "valid", ("agents-idp",))
THROUGH_REGISTRY = (
    TOKEN_OK,
    LayerOutcome("identity", True, "resolved", ()),
    LayerOutcome("registry", True, "registered", ("reg-1",)),
)


def test_every_token_reason_code_belongs_to_exactly_one_check():
    placed = [code for _name, _rule, codes in TOKEN_CHECKS for code in codes]
    assert sorted(placed) == sorted(REASONS)


@pytest.mark.parametrize(
    "reason,header,claims,check",
    [
        ("signature_invalid", {"alg": "RS256"}, {"iss": "x"}, "signature"),
        ("no_profile", {"alg": "RS256"}, {"iss": "x"}, "profile"),
        ("expired", {"alg": "RS256"}, {"iss": "x"}, "lifetime"),
        # alg refused before any profile was consulted (not a DECISIONS.md#d22 algorithm) vs by the profile's list
        ("alg_not_allowed", {"alg": "RS1"}, {"iss": "x"}, "header"),
        ("alg_not_allowed", {"alg": "ES256"}, {"iss": "x"}, "algorithm"),
        # `iss` of the wrong type is the profile lookup; other claim types are the claims check
        ("claim_type_invalid", {"alg": "RS256"}, {"iss": 7}, "profile"),
        ("claim_type_invalid", {"alg": "RS256"}, {"iss": "x", "sub": 7}, "claims"),
        ("malformed", None, None, "format"),
    ],
)
def test_the_failing_check_is_placed_by_reason_and_presented_token(reason, header, claims, check):
    assert failing_check(reason, header, claims) == check


def test_checks_before_the_failing_one_passed_and_later_ones_were_not_reached():
    decision = Decision.deny("token", "signature_invalid", "RS256 signature does not verify")
    checks = token_checks(decision, "signature")
    statuses = {c["check"]: c["status"] for c in checks}
    assert [c["check"] for c in checks] == [name for name, _r, _c in TOKEN_CHECKS]
    assert statuses["key"] == PASSED and statuses["signature"] == FAILED and statuses["lifetime"] == NOT_REACHED
    failed = next(c for c in checks if c["status"] == FAILED)
    assert failed["reason"] == "signature_invalid" and failed["detail"] == "RS256 signature does not verify"
    assert "RFC 7515" in failed["source"]


def test_a_valid_token_passes_every_check_and_an_unreached_token_layer_none():
    allowed = Decision(True, "allowed", "", "", THROUGH_REGISTRY)
    assert {c["status"] for c in token_checks(allowed, None)} == {PASSED}
    assert {c["status"] for c in token_checks(Decision(False, "x", "identity", "", ()), None)} == {NOT_REACHED}


def test_layer_steps_carry_exactly_the_decisions_outcomes():
    detail = "ceiling policies ['agent-ceiling'] do not allow read on sys/x"
    decision = Decision(
        False,
        "ceiling_no_matching_path",
        "ceiling",
        detail,
        THROUGH_REGISTRY
        + (
            LayerOutcome("baseline", True, "allowed", ("policy-reader",)),
            LayerOutcome("ceiling", False, "no_matching_path", (), detail),
        ),
    )
    steps = {s["layer"]: s for s in layer_steps(decision)}
    assert list(steps) == ["token", "identity", "registry", "rar_required", "baseline", "ceiling", "rar"]
    assert steps["baseline"]["status"] == PASSED and steps["baseline"]["policies"] == ["policy-reader"]
    assert steps["ceiling"]["status"] == FAILED and steps["ceiling"]["detail"] == detail
    assert steps["rar"]["status"] == NOT_REACHED and "reason" not in steps["rar"]
    # rar_required leaves no outcome when it passes; a later layer's outcome shows it was passed
    assert steps["rar_required"]["status"] == PASSED and "reason" not in steps["rar_required"]


def test_a_layer_without_an_outcome_and_none_after_it_was_not_reached():
    steps = {s["layer"]: s for s in layer_steps(Decision.deny("token", "expired", "exp passed"))}
    assert [steps[layer]["status"] for layer in ("token", "identity", "rar_required", "rar")] == [
        FAILED, NOT_REACHED, NOT_REACHED, NOT_REACHED
    ]  # fmt: skip


def test_the_report_reads_step_by_step():
    decision = Decision.deny("token", "signature_invalid", "RS256 signature does not verify")
    report = {
        "allowed": False,
        "reason": decision.reason,
        "layer": "token",
        "detail": decision.detail,
        "capabilities": ["deny"],
        "request": {"namespace": "team-a/", "operation": "read", "path": "secret/data/x", "parameters": ["v"]},
        "steps": layer_steps(decision),
    }
    report["steps"][0]["checks"] = token_checks(decision, "signature")
    report["steps"][0]["profile"] = {"status": "matched", "name": "idp", "issuer_id": "https://i", "config_id": "c"}
    text = render_text(report)
    assert text.startswith("DENIED: signature_invalid (at token)\n")
    assert "request: read secret/data/x in team-a/ with parameters v" in text
    assert "[FAIL] 1. token: signature_invalid" in text
    assert "[FAIL] signature: signature_invalid: RS256 signature does not verify" in text
    assert "[ok]   key" in text and "[--]   lifetime" in text
    assert "profile: idp (issuer https://i, config_id c)" in text
    assert "2. subject and actor: not reached" in text


def test_an_allowed_report_lists_the_rar_entries():
    report = {
        "allowed": True,
        "reason": "allowed",
        "request": {"operation": "read", "path": "p"},
        "steps": [
            {
                "layer": "rar",
                "title": "authorization_details (RAR)",
                "status": PASSED,
                "reason": "rar_match",
                "entries": [
                    {"index": 0, "status": "skipped", "path": None, "why": "type 'x' is not 'vault:path_access'"},
                    {"index": 1, "status": "matches", "path": "p", "capabilities": ["read"]},
                ],
            }
        ],
    }
    text = render_text(report)
    assert text.startswith("ALLOWED: allowed\n")
    assert "[0] skipped (type 'x' is not 'vault:path_access')" in text
    assert "[1] matches: p [read]" in text
