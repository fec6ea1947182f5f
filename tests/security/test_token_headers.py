"""THREATS.md#t32: one rule reads the caller's token for authentication and for the audit log; two
different tokens in one request are refused with 400 before anything is done."""

from __future__ import annotations

import http.client

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaultguard.service.access.tokens import ConflictingTokens, presented_token
from vaultguard.service.api.audit_middleware import _presented_token


def send(api, method: str, path: str, headers: list[tuple[str, str]], body: bytes = b""):  # noqa: ANN001, ANN201
    host, port = api.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest(method, f"/v1/{path}")
    for name, value in [("X-Vault-Namespace", api.namespace), ("Content-Length", str(len(body))), *headers]:
        conn.putheader(name, value)
    conn.endheaders(body)
    resp = conn.getresponse()
    return resp.status, resp.read()


TEXT = b'{"policy": "path \\"x\\" { capabilities = [\\"read\\"] }"}'


@pytest.mark.parametrize(
    "headers",
    [
        [("X-Vault-Token", "{root}"), ("X-Vault-Token", "other")],
        [("X-Vault-Token", "other"), ("X-Vault-Token", "{root}")],
        [("X-Vault-Token", "{root}"), ("Authorization", "Bearer other")],
        [("Authorization", "Bearer other"), ("Authorization", "Bearer {root}")],
    ],
)
def test_two_different_tokens_are_refused_with_400_and_nothing_is_written(api, headers):
    headers = [(n, v.format(root=api.token)) for n, v in headers]
    status, body = send(api, "POST", "sys/policies/acl/conflict", headers, TEXT)
    assert status == 400, body
    assert b"conflicting tokens" in body
    assert api.get("sys/policies/acl/conflict").status_code == 404


def test_the_same_token_twice_is_served(api):
    headers = [("X-Vault-Token", api.token), ("X-Vault-Token", api.token), ("Authorization", f"Bearer {api.token}")]
    status, body = send(api, "POST", "sys/policies/acl/twice", headers, TEXT)
    assert status == 204, body


HEADER = st.tuples(
    st.sampled_from(["x-vault-token", "X-Vault-Token", "authorization", "Authorization", "x-other"]),
    st.sampled_from(["a", "b", " a ", "", "Bearer a", "bearer b", "Basic a"]),
)


@settings(deadline=None)
@given(headers=st.lists(HEADER, max_size=5))
def test_audit_and_authentication_read_the_same_token(headers):
    scope = {"headers": [(n.lower().encode(), v.encode()) for n, v in headers]}
    try:
        token = presented_token(headers)
    except ConflictingTokens:
        assert _presented_token(scope) == ""  # refused: recorded as no one's
        return
    assert _presented_token(scope) == token
    vault = {v.strip() for n, v in headers if n.lower() == "x-vault-token"}
    bearer = {v[7:].strip() for n, v in headers if n.lower() == "authorization" and v[:7].lower() == "bearer "}
    presented = (vault | bearer) - {""}
    assert presented == ({token} if token else set())
