"""The JWT attack corpus: one data file per SECURITY.md row in `cases/`, run by this one parametrized test.

A case file holds the row number, what it attacks, its sources, what this layer asserts and what the HTTP
layer will assert later, and variants. A variant is a sequence of steps (a single-token variant is one step);
each step may reconfigure the JWKS server or move the clock, then builds a token and states the outcome:
`accept`, or `reject` with the reason code. The token language (all members optional):

- `key`: the signing key (see `jwt_forge.private_key`), default "rsa"; `alg`: the signing algorithm,
  default the header's;
- `header`: members set over {"alg": "RS256", "typ": "at+jwt", "kid": "k1"} (null removes one);
  `raw_header`: the exact header JSON instead; `append_header` / `append_payload`: raw JSON members added
  before the closing brace (duplicate members);
- `claims`: members set over a valid claim set (null removes one); `raw_payload`: exact payload text;
- `signature`: "empty", "truncate:N", "append:TEXT", "flip", "hmac:public_pem", "hmac:public_jwk",
  "hmac:TEXT", "ecdsa:VARIANT" (see `jwt_forge.ecdsa_variants`);
- `shape`: "jwe" (five segments), "json_serialization"; `pad_to`: pad the payload to this many characters;
  `nest`: nest a claim this deep; `details_entries`: an `authorization_details` of N empty objects.

Values {"$now": N} mean the test clock's start + N seconds; "{attacker_url}" in a string is the URL of an
attacker's JWKS server, which must never be contacted. Every rejection must also carry a documented reason
code and must not echo the token (row 25's share at this layer).
"""

from __future__ import annotations

import base64
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from security.jwt_forge import (
    HMAC_HASHES,
    NOW,
    Clock,
    b64url,
    claims,
    ecdsa_variants,
    encode_part,
    finder,
    header,
    jwk,
    jwks_profile,
    jwks_server,
    public_pem,
    resign_ecdsa,
    sign,
    static_profile,
)

from vaultguard.service.authn.jwks import JwksCache
from vaultguard.service.authn.jwt import REASONS, JWTValidator, TokenRejected

CASES = Path(__file__).parent / "cases"
SECURITY_ROWS = range(1, 26)


def _case_files() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    loaded = []
    for path in sorted(CASES.glob("*.json")):
        case = json.loads(path.read_text())
        case["file"] = path.name
        for variant in case["variants"]:
            loaded.append((case, variant))
    return loaded


VARIANTS = _case_files()


@pytest.mark.parametrize(
    ("case", "variant"), [pytest.param(c, v, id=f"row{c['row']:02d}: {v['name']}") for c, v in VARIANTS]
)
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
            self.idp.keys = [_jwk_entry(entry) for entry in step["jwks"]]
        self.clock.advance(step.get("advance", 0))
        if "validate_again" in step:
            tok = self.tokens[step["validate_again"]]
        elif "token" in step:
            tok = build(_resolve(step["token"], self.attacker.url))
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
            if len(tok) > 16:  # row 25: a rejection never carries the token itself
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


def _jwk_entry(entry: dict[str, Any]) -> dict[str, Any]:
    members = {k: v for k, v in entry.items() if k != "key"}
    return jwk(entry["key"], **members)


def _resolve(value: Any, attacker_url: str) -> Any:
    """Substitute {"$now": N} and "{attacker_url}" throughout a token spec."""
    if isinstance(value, dict):
        if set(value) == {"$now"}:
            return NOW + value["$now"]
        return {k: _resolve(v, attacker_url) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, attacker_url) for v in value]
    if isinstance(value, str):
        return value.replace("{attacker_url}", attacker_url)
    return value


def build(spec: dict[str, Any]) -> str:
    """A token from the spec language described in the module docstring."""
    if spec.get("shape") == "jwe":
        return "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a2V5.aXY.Y2lwaGVy.dGFn"
    head = header()
    for name, value in spec.get("header", {}).items():
        if value is None:
            head.pop(name, None)
        else:
            head[name] = value
    payload = claims()
    for name, value in spec.get("claims", {}).items():
        if value is None:
            payload.pop(name, None)
        else:
            payload[name] = value
    if "nest" in spec:
        nested: Any = "x"
        for _ in range(spec["nest"]):
            nested = [nested]
        payload["nested"] = nested
    if "details_entries" in spec:
        payload["authorization_details"] = [{}] * spec["details_entries"]
    head_text = spec.get("raw_header") or json.dumps(head, separators=(",", ":"))
    payload_text = spec.get("raw_payload") or json.dumps(payload, separators=(",", ":"))
    if "append_header" in spec:
        head_text = head_text[:-1] + "," + spec["append_header"] + "}"
    if "append_payload" in spec:
        payload_text = payload_text[:-1] + "," + spec["append_payload"] + "}"
    if "pad_to" in spec:
        payload_text = payload_text[:-1] + ',"pad":"' + "p" * (spec["pad_to"] * 3 // 4) + '"}'
    alg = spec.get("alg") or (head.get("alg") if isinstance(head.get("alg"), str) else "RS256")
    signing_input = f"{encode_part(head_text)}.{encode_part(payload_text)}"
    if spec.get("shape") == "json_serialization":
        protected, body = signing_input.split(".")
        signature = b64url(sign(alg, spec.get("key", "rsa"), signing_input.encode()))
        return json.dumps({"payload": body, "signatures": [{"protected": protected, "signature": signature}]})
    return f"{signing_input}.{_signature(spec, alg, signing_input)}"


def _signature(spec: dict[str, Any], alg: str, signing_input: str) -> str:
    kind = spec.get("signature", "honest")
    key = spec.get("key", "rsa")
    if kind.startswith("hmac:"):
        secret_name = kind.split(":", 1)[1]
        secret = {
            "public_pem": public_pem("rsa").encode(),
            "public_jwk": json.dumps(jwk("rsa", kid="k1")).encode(),
        }.get(secret_name, secret_name.encode())
        return b64url(hmac.new(secret, signing_input.encode(), HMAC_HASHES[alg]).digest())
    honest = b64url(sign(alg, key, signing_input.encode())) if alg in _SIGNING_ALGS else ""
    if kind == "honest":
        return honest
    if kind == "empty":
        return ""
    if kind.startswith("truncate:"):
        return honest[: -int(kind.split(":")[1])]
    if kind.startswith("append:"):
        return honest + kind.split(":", 1)[1]
    if kind == "flip":
        raw = bytearray(base64.urlsafe_b64decode(honest + "=="))
        raw[len(raw) // 2] ^= 0x01
        return b64url(bytes(raw))
    if kind.startswith("ecdsa:"):
        variant = ecdsa_variants()[kind.split(":")[1]]
        return resign_ecdsa(f"{signing_input}.{honest}", key, variant).rsplit(".", 1)[1]
    raise ValueError(f"unknown signature kind {kind!r}")


_SIGNING_ALGS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})
