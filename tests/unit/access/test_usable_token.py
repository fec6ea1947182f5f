"""The caller's token as every transport reads it: one rule, refused (400, with the reason the audit log
names) when conflicting or oversized."""

from __future__ import annotations

import pytest

from vaultguard.service.access.tokens import ConflictingTokens, UnusableToken, usable_token


def test_the_token_is_read_from_either_header_and_repeats_are_harmless():
    assert usable_token([("X-Vault-Token", " t ")], 10) == "t"
    assert usable_token([("authorization", "Bearer t"), ("x-vault-token", "t")], 10) == "t"
    assert usable_token([("x-other", "t")], 10) == ""


def test_two_tokens_are_refused_with_their_reason():
    with pytest.raises(ConflictingTokens) as refused:
        usable_token([("x-vault-token", "a"), ("authorization", "Bearer b")], 10)
    assert (refused.value.status, refused.value.reason) == (400, "conflicting_tokens")


@pytest.mark.parametrize("limit,size,ok", [(8, 8, True), (8, 9, False), (-1, 100_000, True)])
def test_the_size_limit_applies_unless_disabled(limit, size, ok):
    headers = [("x-vault-token", "x" * size)]
    if ok:
        assert usable_token(headers, limit) == "x" * size
        return
    with pytest.raises(UnusableToken) as refused:
        usable_token(headers, limit)
    assert (refused.value.status, refused.value.reason) == (400, "too_large")
    assert refused.value.errors == [f"authentication token is larger than the maximum allowed size of {limit} bytes"]
