"""Benchmark: the decision core in-process (DECISIONS.md#d57).

Validate an RS256 token, resolve subject and actor, and decide baseline ∩ ceiling ∩ authorization_details,
against an in-memory directory (the same protocol the server's memoized storage view implements).
Everything is reported as ratios against references measured in the same run:

- cold (a token never seen before) vs a bare PyJWT `decode` of the same token: must be < 1;
- warm (the same token again, exp re-checked): must be ≤ 5 µs;
- flatness: 10 vs 100,000 registrations, and 10 vs 10,000 policy paths: each ratio ≤ 1.2.

Run: `.venv/bin/python tests/bench/bench_decision.py [--quick]`; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from vaultguard.service.api.agents import caller_for
from vaultguard.service.api.deps import PolicyCache
from vaultguard.service.authn.jwt import JWTValidator
from vaultguard.service.authn.profiles import Profile, PublicKey
from vaultguard.service.authz.acl import AccessRequest
from vaultguard.service.authz.builtin import BUILTIN_POLICIES
from vaultguard.service.identity.model import Alias, Entity
from vaultguard.service.registry.model import Registration

ISSUER = "https://idp.example.com"
AUDIENCE = "https://vault.example.com"
NS = "root"
KEY = rsa.generate_private_key(65537, 2048)
PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
PROFILE = Profile(
    name="idp",
    namespace_id=NS,
    config_id="cfg-1",
    issuer_id=ISSUER,
    use_jwks=False,
    public_keys=(PublicKey("k1", PEM.decode()),),
    audiences=(AUDIENCE,),
)
REQUEST = AccessRequest("secret/data/team/report", "read")


class MemoryDirectory:
    """The AgentDirectory protocol over dicts: N agents with aliases and registrations."""

    def __init__(self, registrations: int, policy_paths: int):
        self.aliases: dict[tuple[str, str], Alias] = {}
        self.entities: dict[str, Entity] = {}
        self.registrations: dict[str, Registration] = {}
        self._memo: dict = {}
        self.generation = 0
        team = "\n".join(f'path "secret/data/p{i}/*" {{ capabilities = ["read"] }}' for i in range(policy_paths - 1))
        self.policies = {
            **BUILTIN_POLICIES,
            "team": team + '\npath "secret/data/team/*" { capabilities = ["read", "list"] }',
            "ceiling": 'path "secret/data/team/*" { capabilities = ["read"] }',
        }
        self._add("alice", policies=["team"], registered=False)
        for i in range(registrations):
            self._add(f"agent-{i}", policies=["team"], registered=True)

    def _add(self, name: str, policies: list[str], registered: bool) -> None:
        entity = Entity(id=f"e-{name}", namespace_id=NS, name=name, policies=policies)
        alias = Alias(
            id=f"a-{name}", namespace_id=NS, canonical_id=entity.id, name=name, issuer=ISSUER, external_id=name
        )
        self.entities[entity.id] = entity
        self.aliases[(ISSUER, name)] = alias
        if registered:
            reg = Registration(id=f"r-{name}", namespace_id=NS, display_name=name, entity_id=entity.id,
                               ceiling_policies=["ceiling", "default", "default-ceiling"])  # fmt: skip
            self.registrations[entity.id] = reg

    def find_profile(self, namespace_id, issuer):  # noqa: ANN001, ANN201
        return PROFILE if issuer == ISSUER else None

    def alias_by_issuer(self, namespace_id, issuer, external_id):  # noqa: ANN001, ANN201
        return self.aliases.get((issuer, external_id))

    def entity_by_id(self, namespace_id, entity_id):  # noqa: ANN001, ANN201
        return self.entities.get(entity_id)

    def registration_by_entity(self, namespace_id, entity_id):  # noqa: ANN001, ANN201
        return self.registrations.get(entity_id)

    def policy_texts(self, namespace_id, names):  # noqa: ANN001, ANN201
        return {n: self.policies[n] for n in names if n in self.policies}

    def memo(self, key, build):  # noqa: ANN001, ANN201
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]


def tokens(count: int, agents: int) -> list[str]:
    now = int(time.time())
    return [
        jwt.encode(
            {"iss": ISSUER, "sub": "alice", "act": {"sub": f"agent-{i % agents}"}, "aud": AUDIENCE,
             "exp": now + 3600, "iat": now, "jti": str(uuid.uuid4()),
             "authorization_details": [
                 {"type": "vault:path_access", "path": "secret/data/team/*", "capabilities": ["read"]}
             ]},
            KEY, algorithm="RS256", headers={"kid": "k1", "typ": "at+jwt"},
        )  # fmt: skip
        for i in range(count)
    ]


def per_call(fn, items, rounds: int) -> float:  # noqa: ANN001
    """Median over rounds of the mean µs per item."""
    samples = []
    for _ in range(rounds):
        gc.disable()
        start = time.perf_counter()
        for item in items:
            fn(item)
        samples.append((time.perf_counter() - start) / len(items) * 1e6)
        gc.enable()
    return statistics.median(samples)


def measure(registrations: int, policy_paths: int, batch: int, rounds: int) -> dict[str, float]:
    directory = MemoryDirectory(registrations, policy_paths)
    cache = PolicyCache()
    validator = JWTValidator()

    def decide(raw: str) -> None:
        token = validator.validate(raw, lambda issuer: directory.find_profile(NS, issuer))
        decision = caller_for(token, raw, NS, directory, cache).decide(REQUEST)
        assert decision.allowed, decision

    decide(tokens(1, registrations)[0])  # compile the policies once, as a running server has
    cold_tokens = [tokens(batch, registrations) for _ in range(rounds)]
    cold = statistics.median(per_call(decide, batch_tokens, 1) for batch_tokens in cold_tokens)
    warm_token = cold_tokens[0][:1] * batch
    warm = per_call(decide, warm_token, rounds)
    decode = per_call(
        lambda raw: jwt.decode(raw, KEY.public_key(), algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER),
        cold_tokens[0],
        rounds,
    )
    return {"cold": cold, "warm": warm, "pyjwt_decode": decode}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer rounds (noisier)")
    args = parser.parse_args()
    batch, rounds = (300, 3) if args.quick else (1000, 5)
    base = measure(10, 10, batch, rounds)
    many_regs = measure(100_000, 10, batch, rounds)
    many_paths = measure(10, 10_000, batch, rounds)
    print(f"{'case':<34}{'cold µs':>10}{'warm µs':>10}{'PyJWT decode µs':>18}")
    for name, result in (("10 registrations, 10 paths", base), ("100,000 registrations", many_regs),
                         ("10,000 policy paths", many_paths)):  # fmt: skip
        print(f"{name:<34}{result['cold']:>10.1f}{result['warm']:>10.2f}{result['pyjwt_decode']:>18.1f}")
    checks = [
        ("cold / PyJWT decode (< 1.0)", base["cold"] / base["pyjwt_decode"], 1.0),
        ("warm µs (≤ 5)", base["warm"], 5.0),
        ("cold 100k / 10 registrations (≤ 1.2)", many_regs["cold"] / base["cold"], 1.2),
        ("warm 100k / 10 registrations (≤ 1.2)", many_regs["warm"] / base["warm"], 1.2),
        ("cold 10k / 10 policy paths (≤ 1.2)", many_paths["cold"] / base["cold"], 1.2),
        ("warm 10k / 10 policy paths (≤ 1.2)", many_paths["warm"] / base["warm"], 1.2),
    ]
    missed = 0
    print()
    for name, value, limit in checks:
        ok = value <= limit if "≤" in name else value < limit
        missed += not ok
        print(f"{name:<42}{value:>8.2f}  {'PASS' if ok else 'MISS'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
