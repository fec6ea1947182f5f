"""THREATS.md#t28: a restricted-use token (num_uses > 0) cannot create child tokens, as in Vault."""

from __future__ import annotations

from api.api_objects import child_token, errors, put_policy

MAKER = """
path "auth/token/create" { capabilities = ["update"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
"""


def test_a_limited_use_token_cannot_create_a_child(api):
    put_policy(api, "maker", MAKER)
    limited = api.with_token(child_token(api, ["maker"], num_uses=3))
    resp = limited.post("auth/token/create", json={"policies": ["maker"]})
    assert resp.status_code == 400
    assert errors(resp) == ["restricted use token cannot generate child tokens"]
    # the refused attempt used one of the three uses, as every request does (lookup-self reports the
    # count before its own use)
    assert limited.get("auth/token/lookup-self").json()["data"]["num_uses"] == 2


def test_an_unlimited_token_with_the_same_policy_can(api):
    put_policy(api, "maker", MAKER)
    unlimited = api.with_token(child_token(api, ["maker"]))
    resp = unlimited.post("auth/token/create", json={"policies": ["maker"], "num_uses": 2})
    assert resp.status_code == 200, resp.text
    assert resp.json()["auth"]["num_uses"] == 2
