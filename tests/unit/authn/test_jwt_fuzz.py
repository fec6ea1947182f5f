"""Property tests: whatever arrives, validation answers with a result or `TokenRejected`, nothing else."""

from __future__ import annotations

import asyncio
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from security.jwt_forge import Clock, claims, encode_part, finder, header, static_profile, token

from vaultguard.service.authn.jwt import REASONS, JWTValidator, TokenRejected, ValidatedToken, looks_like_jwt

PROFILE = static_profile({"k1": "rsa", "e1": "p256", "ed": "ed25519"})
FIND = finder(PROFILE)
VALID = {
    "RS256": token(),
    "ES256": token("p256", head=header("ES256", kid="e1")),
    "EdDSA": token("ed25519", head=header("EdDSA", kid="ed")),
}
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
claim_names = st.sampled_from(
    [
        "iss",
        "sub",
        "aud",
        "exp",
        "nbf",
        "iat",
        "jti",
        "uti",
        "act",
        "authorization_details",
        "txn",
        "client_id",
    ]
)
header_names = st.sampled_from(["alg", "typ", "kid", "cty", "crit", "enc", "jku", "jwk", "x5c", "b64"])
base64url_ish = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ", max_size=300)


def outcome(tok) -> str:
    """'valid' or the reason code; any other exception fails the test."""
    validator = JWTValidator(clock=Clock())
    try:
        result = validator.validate(tok, FIND)
    except TokenRejected as rejected:
        assert rejected.reason in REASONS
        return rejected.reason
    assert isinstance(result, ValidatedToken)
    return "valid"


@SETTINGS
@given(st.text(max_size=400))
def test_arbitrary_text_is_rejected(text):
    assert outcome(text) != "valid"
    looks_like_jwt(text)


@SETTINGS
@given(base64url_ish)
def test_base64url_like_text_is_rejected(text):
    assert outcome(text) != "valid"


@SETTINGS
@given(st.binary(max_size=200) | st.integers() | st.none() | st.lists(st.text(max_size=5), max_size=3))
def test_values_that_are_not_strings_are_rejected(value):
    assert outcome(value) == "malformed"


@SETTINGS
@given(st.binary(max_size=300), st.binary(max_size=600), st.binary(max_size=300))
def test_arbitrary_segment_bytes_are_rejected(head, payload, signature):
    assert outcome(f"{encode_part(head)}.{encode_part(payload)}.{encode_part(signature)}") != "valid"


@SETTINGS
@given(st.dictionaries(claim_names, json_values, max_size=6))
def test_signed_tokens_with_arbitrary_claim_values_never_crash(overrides):
    outcome(token(payload=claims(**{k: v for k, v in overrides.items() if v is not None})))
    # Removing claims too: an explicit JSON null is a value, not an absence.
    outcome(token(payload=json.dumps({**claims(), **overrides})))


@SETTINGS
@given(st.dictionaries(header_names, json_values, max_size=5))
def test_signed_tokens_with_arbitrary_header_values_never_crash(members):
    outcome(token(head={**header(), **members}, alg="RS256"))


@SETTINGS
@given(st.sampled_from(sorted(VALID)), st.data())
def test_every_single_bit_flip_of_a_valid_token_is_rejected(alg, data):
    original = VALID[alg]
    segment = data.draw(st.integers(0, 2), label="segment")
    start = [0, original.index(".") + 1, original.rindex(".") + 1][segment]
    end = [original.index("."), original.rindex("."), len(original)][segment]
    position = data.draw(st.integers(start, end - 1), label="position")
    bit = data.draw(st.integers(0, 7), label="bit")
    flipped = original[:position] + chr(ord(original[position]) ^ (1 << bit)) + original[position + 1 :]
    assert outcome(flipped) != "valid"


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_the_async_path_also_only_raises_token_rejected(text):
    validator = JWTValidator(clock=Clock())
    try:
        asyncio.run(validator.validate_async(text, FIND))
    except TokenRejected:
        pass


def test_the_unflipped_tokens_are_valid():
    assert all(outcome(tok) == "valid" for tok in VALID.values())
