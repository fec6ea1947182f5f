"""The JWT attack corpus (`cases/*.json`, one file per attack class of THREATS.md#t1–#t25) and the token
builder both runners share: `test_jwt_attacks.py` runs it against the validator in-process,
`test_http_attacks.py` against a real server over HTTP.

A case file holds the class number (`row`), what it attacks, its sources, what the validator layer asserts and what
the HTTP layer asserts, and variants. A variant is a sequence of steps (a single-token variant is one
step); each step may reconfigure the JWKS server or move the clock, then builds a token and states the
outcome: `accept`, or `reject` with the reason code. The token language (all members optional):

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

Values {"$now": N} mean the clock's start + N seconds ("now" is `jwt_forge.NOW` in-process, the real time
over HTTP); "{attacker_url}" in a string is the URL of an attacker's JWKS server, which must never be
contacted.
"""

from __future__ import annotations

import base64
import hmac
import json
from pathlib import Path
from typing import Any

from security.jwt_forge import (
    HMAC_HASHES,
    NOW,
    b64url,
    claims,
    ecdsa_variants,
    encode_part,
    header,
    jwk,
    public_pem,
    resign_ecdsa,
    sign,
)

CASES = Path(__file__).parent / "cases"
SECURITY_ROWS = range(1, 26)


def case_files() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every (case, variant) of the corpus, in file order; `case["file"]` names the file."""
    loaded = []
    for path in sorted(CASES.glob("*.json")):
        case = json.loads(path.read_text())
        case["file"] = path.name
        for variant in case["variants"]:
            loaded.append((case, variant))
    return loaded


VARIANTS = case_files()


def variant_id(case: dict[str, Any], variant: dict[str, Any]) -> str:
    return f"row{case['row']:02d}: {variant['name']}"


def jwk_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A JWKS entry of a step: {"key": name, ...JWK members}."""
    members = {k: v for k, v in entry.items() if k != "key"}
    return jwk(entry["key"], **members)


def resolve(value: Any, attacker_url: str, now: float = NOW) -> Any:
    """Substitute {"$now": N} and "{attacker_url}" throughout a token spec."""
    if isinstance(value, dict):
        if set(value) == {"$now"}:
            return now + value["$now"]
        return {k: resolve(v, attacker_url, now) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, attacker_url, now) for v in value]
    if isinstance(value, str):
        return value.replace("{attacker_url}", attacker_url)
    return value


def build(spec: dict[str, Any], now: float = NOW) -> str:
    """A token from the spec language described in the module docstring, issued at `now`."""
    if spec.get("shape") == "jwe":
        return "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a2V5.aXY.Y2lwaGVy.dGFn"
    head = header()
    for name, value in spec.get("header", {}).items():
        if value is None:
            head.pop(name, None)
        else:
            head[name] = value
    payload = claims(now)
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
