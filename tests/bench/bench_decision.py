"""Benchmark: the decision core in-process (DECISIONS.md#d57).

Validate an RS256 token, resolve subject and actor, and decide baseline ∩ ceiling ∩ authorization_details,
against an in-memory directory (the same protocol the server's memoized storage view implements).
Everything is reported as ratios against references measured in the same run:

- cold (a token never seen before) vs a bare PyJWT `decode` of the same token: must be < 1;
- warm (the same token again, exp re-checked): must be ≤ 5 µs;
- flatness: 10 vs 100,000 registrations, 10 vs 10,000 policy paths, and no groups vs 10,000 groups (nesting
  depth 10, 1,000 members each, the subject's baseline from ten nested groups): each ratio ≤ 1.2.

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

from vaultguard.service.access.agents import caller_for
from vaultguard.service.access.policy_cache import PolicyCache
from vaultguard.service.authn.jwt import JWTValidator
from vaultguard.service.authn.profiles import Profile, PublicKey
from vaultguard.service.authz.acl import AccessRequest
from vaultguard.service.authz.builtin import BUILTIN_POLICIES
from vaultguard.service.identity import groups
from vaultguard.service.identity.model import Alias, Entity, Group
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
GROUP_DEPTH = 10
GROUP_MEMBERS = 1_000


class MemoryGroups:
    """The group reads `identity.groups.membership` makes, over dicts: `count` groups in chains of
    GROUP_DEPTH (each group a member of the next), each with GROUP_MEMBERS entities; alice is a member of the
    first group of the first chain, so her baseline gathers GROUP_DEPTH groups. The last group of each chain
    grants `team`."""

    def __init__(self, count: int):
        self.by_id = {}
        self.parents: dict[str, list[str]] = {}
        self.member_of: dict[str, list[str]] = {"e-alice": ["g-0"]} if count else {}
        members = [f"e-member-{m}" for m in range(100_000)]
        for i in range(count):
            group_id, last = f"g-{i}", i % GROUP_DEPTH == GROUP_DEPTH - 1
            self.by_id[group_id] = Group(id=group_id, namespace_id=NS, name=f"group-{i}",
                                         policies=["team"] if last else [])  # fmt: skip
            if not last:
                self.parents[group_id] = [f"g-{i + 1}"]
            for m in range(GROUP_MEMBERS):
                self.member_of.setdefault(members[(i * GROUP_MEMBERS + m) % len(members)], []).append(group_id)

    def direct_group_ids_of_entity(self, namespace_id, entity_id):  # noqa: ANN001, ANN201
        return list(self.member_of.get(entity_id, ()))

    def group_aliases_named(self, namespace_id, accessor, names):  # noqa: ANN001, ANN201
        return []

    def group_parents(self, namespace_id, group_ids):  # noqa: ANN001, ANN201
        return [(g, p) for g in group_ids for p in self.parents.get(g, ())]

    def groups_by_ids(self, namespace_id, group_ids):  # noqa: ANN001, ANN201
        return [self.by_id[g] for g in sorted(set(group_ids)) if g in self.by_id]


class MemoryDirectory:
    """The AgentDirectory protocol over dicts: N agents with aliases and registrations."""

    def __init__(self, registrations: int, policy_paths: int, group_count: int = 0):
        self.groups = MemoryGroups(group_count)
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
        self._add("alice", policies=[] if group_count else ["team"], registered=False)  # else from her groups
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

    def membership(self, namespace_id, entity_id, accessor, claim_values):  # noqa: ANN001, ANN201
        return self.memo(
            ("membership", entity_id, accessor, claim_values),
            lambda: groups.membership(self.groups, namespace_id, entity_id, accessor, claim_values),
        )

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


def measure(registrations: int, policy_paths: int, batch: int, rounds: int, groups: int = 0) -> dict[str, float]:
    directory = MemoryDirectory(registrations, policy_paths, groups)
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
    many_groups = measure(10, 10, batch, rounds, groups=10_000)
    print(f"{'case':<34}{'cold µs':>10}{'warm µs':>10}{'PyJWT decode µs':>18}")
    for name, result in (("10 registrations, 10 paths", base), ("100,000 registrations", many_regs),
                         ("10,000 policy paths", many_paths),
                         (f"10,000 groups (depth {GROUP_DEPTH})", many_groups)):  # fmt: skip
        print(f"{name:<34}{result['cold']:>10.1f}{result['warm']:>10.2f}{result['pyjwt_decode']:>18.1f}")
    checks = [
        ("cold / PyJWT decode (< 1.0)", base["cold"] / base["pyjwt_decode"], 1.0),
        ("warm µs (≤ 5)", base["warm"], 5.0),
        ("cold 100k / 10 registrations (≤ 1.2)", many_regs["cold"] / base["cold"], 1.2),
        ("warm 100k / 10 registrations (≤ 1.2)", many_regs["warm"] / base["warm"], 1.2),
        ("cold 10k / 10 policy paths (≤ 1.2)", many_paths["cold"] / base["cold"], 1.2),
        ("warm 10k / 10 policy paths (≤ 1.2)", many_paths["warm"] / base["warm"], 1.2),
        ("cold 10k groups / none (≤ 1.2)", many_groups["cold"] / base["cold"], 1.2),
        ("warm 10k groups / none (≤ 1.2)", many_groups["warm"] / base["warm"], 1.2),
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
