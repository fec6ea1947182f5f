"""The JWT attack corpus run against the validator in-process: one data file per attack class of
THREATS.md#t1–#t25 in `cases/` (format and token language: `corpus.py`), run by this one parametrized test.

Every rejection must also carry a documented reason code and must not echo the token (this layer's share of
THREATS.md#t25). `test_http_attacks.py` runs the same files against a real server over HTTP.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from security.corpus import CASES, SECURITY_ROWS, VARIANTS, build, jwk_entry, resolve, variant_id
from security.jwt_forge import Clock, finder, jwk, jwks_profile, jwks_server, static_profile

from vaultguard.service.authn.jwks import JwksCache
from vaultguard.service.authn.jwt import REASONS, JWTValidator, TokenRejected


@pytest.mark.parametrize(("case", "variant"), [pytest.param(c, v, id=variant_id(c, v)) for c, v in VARIANTS])
def test_attack(case: dict[str, Any], variant: dict[str, Any]) -> None:
    with jwks_server() as idp, jwks_server() as attacker:
        attacker.keys = [jwk("rsa_attacker", kid="attacker")]
        run = Run(variant, idp, attacker)
        for number, step in enumerate(variant.get("steps") or [variant], start=1):
            run.step(step, f"{case['file']} / {variant['name']} / step {number}")
        assert attacker.hits == 0, "the attacker's URL named in a token was fetched"


def test_every_security_row_has_a_case_file() -> None:
    rows = {json.loads(path.read_text())["row"] for path in CASES.glob("*.json")}
    assert rows == set(SECURITY_ROWS)


def test_every_case_file_says_what_each_layer_asserts() -> None:
    for path in CASES.glob("*.json"):
        case = json.loads(path.read_text())
        assert case["case"] and case["source"] and case["this_layer"] and case["http_layer"], path.name
        assert case["variants"], path.name


class Run:
    """One variant: a clock, a validator, the profile, and the tokens built so far (by name)."""

    def __init__(self, variant: dict[str, Any], idp: Any, attacker: Any) -> None:
        self.clock = Clock()
        self.idp, self.attacker = idp, attacker
        self.validator = JWTValidator(jwks=JwksCache(clock=self.clock, trust_env=False), clock=self.clock)
        self.profile = self._profile(variant.get("profile", {}))
        self.tokens: dict[str, str] = {}
        self.results: dict[str, Any] = {}

    def _profile(self, spec: dict[str, Any]):
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.items() if k not in ("mode", "keys")}
        if spec.get("mode") == "jwks":
            self.idp.keys = [jwk("rsa", kid="k1")]
            return jwks_profile(self.idp.url, **fields)
        return static_profile(spec.get("keys"), **fields)

    def step(self, step: dict[str, Any], where: str) -> None:
        if "jwks" in step:
            self.idp.keys = [jwk_entry(entry) for entry in step["jwks"]]
        self.clock.advance(step.get("advance", 0))
        if "validate_again" in step:
            tok = self.tokens[step["validate_again"]]
        elif "token" in step:
            tok = build(resolve(step["token"], self.attacker.url))
        else:
            return
        if "as" in step:
            self.tokens[step["as"]] = tok
        self._check(tok, step, where)

    def _check(self, tok: str, step: dict[str, Any], where: str) -> None:
        try:
            result = self.validator.validate(tok, finder(self.profile))
        except TokenRejected as rejected:
            assert step["expect"] == "reject", f"{where}: rejected ({rejected.reason}: {rejected.detail})"
            assert rejected.reason == step["reason"], f"{where}: {rejected.reason}: {rejected.detail}"
            assert rejected.reason in REASONS
            if len(tok) > 16:  # THREATS.md#t25: a rejection never carries the token itself
                assert tok not in str(rejected) and tok not in rejected.detail, where
            return
        assert step["expect"] == "accept", f"{where}: accepted, expected {step.get('reason')}"
        for name, expected in step.get("result", {}).items():
            assert getattr(result, name) == expected, f"{where}: {name}"
        if "same_unique_id_as" in step:
            other = self.results[step["same_unique_id_as"]]
            assert result.unique_id == other.unique_id and tok != self.tokens[step["same_unique_id_as"]]
        if "as" in step:
            self.results[step["as"]] = result
