"""THREATS.md#t30: memos that can grant are keyed by the data's generation, never by wall-clock time.

A templated policy compiled for an entity must follow a change to that entity made within the same second
(entities carry second-precision timestamps, which once keyed the compiled ACL).
"""

from __future__ import annotations

from bench.bench_decision import NS, REQUEST, MemoryDirectory, tokens

from vaultguard.service.access.agents import caller_for
from vaultguard.service.access.policy_cache import PolicyCache
from vaultguard.service.authn.jwt import JWTValidator

TEMPLATED = 'path "secret/data/{{identity.entity.metadata.team}}/*" { capabilities = ["read"] }'
SAME_SECOND = "2026-05-15T10:30:00Z"


def test_a_templated_grant_follows_an_identity_change_made_in_the_same_second():
    directory = MemoryDirectory(registrations=1, policy_paths=1)
    directory.policies["team"] = TEMPLATED
    alice = directory.entities["e-alice"]
    alice.metadata = {"team": "team"}
    alice.last_update_time = SAME_SECOND
    cache = PolicyCache()
    raw = tokens(1, 1)[0]
    token = JWTValidator().validate(raw, lambda issuer: directory.find_profile(NS, issuer))

    assert caller_for(token, raw, NS, directory, cache).decide(REQUEST).allowed

    # An admin write: new metadata, the same timestamp, a new generation (and so a fresh view).
    alice.metadata = {"team": "elsewhere"}
    alice.last_update_time = SAME_SECOND
    directory.generation += 1
    directory._memo.clear()

    decision = caller_for(token, raw, NS, directory, cache).decide(REQUEST)
    assert not decision.allowed
