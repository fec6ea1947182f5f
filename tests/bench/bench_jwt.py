"""Benchmark: `JWTValidator` against a bare PyJWT `decode` of the same tokens, measured in the same run.

Run: `.venv/bin/python tests/bench/bench_jwt.py [--rounds N]`. Prints microseconds per validation and the
ratios DECISIONS.md#d57 asks for: cold (a token never seen before) must beat PyJWT `decode`
(ratio < 1), warm (the same token again, exp re-checked) must stay ≤ 5 µs.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from vaultguard.service.authn.jwt import JWTValidator
from vaultguard.service.authn.profiles import Profile, PublicKey

ISSUER = "https://idp.example.com"
AUDIENCE = "https://vault.example.com"
BATCH = 2000


def _pem(private_key) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _tokens(private_key, alg: str, count: int) -> list[str]:
    now = int(time.time())
    return [
        jwt.encode(
            {
                "iss": ISSUER,
                "sub": "alice@example.com",
                "aud": [AUDIENCE],
                "exp": now + 3600,
                "iat": now,
                "nbf": now,
                "jti": str(uuid.uuid4()),
                "client_id": "agent-1",
                "scope": "openid vault",
                "act": {"sub": "agent-1"},
                "authorization_details": [
                    {"type": "vault:path_access", "path": "secret/data/team/*", "capabilities": ["read"]}
                ],
            },
            private_key,
            algorithm=alg,
            headers={"kid": "k1", "typ": "at+jwt"},
        )
        for _ in range(count)
    ]


def _per_call_us(function, tokens: list[str]) -> float:
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for token in tokens:
            function(token)
        elapsed = time.perf_counter_ns() - start
    finally:
        gc.enable()
    return elapsed / len(tokens) / 1000


def _compare(name: str, private_key, alg: str, rounds: int) -> None:
    public_key = private_key.public_key()
    profile = Profile(
        name="bench",
        namespace_id="root",
        config_id="cfg-bench",
        issuer_id=ISSUER,
        use_jwks=False,
        public_keys=(PublicKey("k1", _pem(private_key)),),
        audiences=(AUDIENCE,),
    )

    def find(issuer: str) -> Profile | None:
        return profile if issuer == ISSUER else None

    validator = JWTValidator(cache_size=BATCH * (rounds + 1) * 2)

    def pyjwt_decode(token: str) -> None:
        jwt.decode(token, public_key, algorithms=[alg], audience=AUDIENCE, issuer=ISSUER)

    def ours(token: str) -> None:
        validator.validate(token, find)

    warm_token = _tokens(private_key, alg, 1)[0]
    ours(warm_token)
    cold, reference, warm = [], [], []
    for _ in range(rounds):
        # Interleaved, so machine noise hits both sides alike; fresh tokens keep "cold" cold.
        batch = _tokens(private_key, alg, BATCH)
        reference.append(_per_call_us(pyjwt_decode, batch))
        cold.append(_per_call_us(ours, batch))
        # A new string object per call, as each request parses its own header (its hash is not cached).
        warm.append(_per_call_us(ours, [(warm_token + " ")[:-1] for _ in range(BATCH * 10)]))
    ref, c, w = statistics.median(reference), statistics.median(cold), statistics.median(warm)
    print(f"{name}: PyJWT decode {ref:7.2f} µs | cold {c:7.2f} µs = {c / ref:.2f}× PyJWT | "
          f"warm {w:5.2f} µs = {w / ref:.3f}× PyJWT")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    _compare("RS256 (RSA-2048)", rsa.generate_private_key(65537, 2048), "RS256", args.rounds)
    _compare("ES256 (P-256)   ", ec.generate_private_key(ec.SECP256R1()), "ES256", args.rounds)


if __name__ == "__main__":
    main()
