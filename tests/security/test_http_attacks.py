"""The JWT attack corpus (`cases/*.json`, the same files `test_jwt_attacks.py` runs in-process) against a real
server over HTTP, with a file audit device.

For every token of every variant:

- a token the corpus rejects gets exactly 403 `{"errors":["permission denied"]}` (DECISIONS.md#d5), with the same
  headers whatever the reason (THREATS.md#t25), or 400 when it is over the 8 KiB header cap (DECISIONS.md#d17), or
  a plain-text 431 from
  the HTTP parser when the request head is over its limit (the application never sees it); never a 500,
  never a reason in the answer;
- a token the corpus accepts is served (200), except that `authorization_details` entries the validator
  lets through but which grant nothing (no or unknown `type`, empty objects) are refused by the RAR layer
  with Vault's `RAR_NO_MATCH` answer (the THREATS.md#t23 and THREATS.md#t16 case files say so);
- the request leaves exactly one request and one response line in the audit log, whose
  `auth.metadata.reason` is the case's reason code (for a refusal) and whose decision matches, and the
  token itself never appears in it.

A token that is not shaped like a JWT (DECISIONS.md#d32: three base64url segments, a header with `alg`) is an
unknown Vault token to the server, so its audit reason is `token_unknown` (the THREATS.md#t17 file says so).

The server-side world is built once per module and storage backend: for each distinct profile a variant
needs (static keys, JWKS, supported_algorithms, leeway, audiences, jwt_type), a namespace holding that
profile for the corpus issuer, the subject's entity and OAuth alias, its registration (authorization_details
optional, so plain corpus tokens can be served) and a policy granting the path every token reads.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from security.corpus import VARIANTS, build, jwk_entry, resolve, variant_id
from security.jwt_forge import AUDIENCE, ISSUER, JwksServer, jwk, jwks_server, public_pem

import vgtest
from vaultguard.service.http_protocol import MAX_HEAD_BYTES

READ_PATH = "sys/policy/corpus-reader"
DENIED = {"errors": ["permission denied"]}
RAR_NO_MATCH = {
    "errors": [
        "2 errors occurred:\n\t* RAR_NO_MATCH: No valid authorization_details claim found matching this request."
        "\n\t* permission denied\n\n"
    ]
}
MAX_TOKEN_HEADER = 8192  # DECISIONS.md#d17, the listener's default max_token_header_size
KEYS_REFUSED_AT_WRITE = frozenset({"rsa1024", "secp256k1"})  # DECISIONS.md#d22: the profile API answers 400 for them
PROFILE_FIELDS = frozenset({"mode", "keys", "supported_algorithms", "clock_skew_leeway", "audiences", "jwt_type"})
# Headers that legitimately differ between two answers.
VARYING_HEADERS = frozenset({"date", "content-length"})

# The variants whose later steps need the server's clock to move (by minutes) or its JWKS to change after
# a token was presented. The server runs on real time, so these run in-process only; key rotation over
# HTTP, with real time, is tests/api/test_jwks_profiles.py.
CLOCK_OR_JWKS_MOVES = {
    "row10: a cached token still expires",
    "row21: the same token twice, then after exp",
    "row22: overlap then removal at the TTL",
    "row22: removal noticed through another token's unknown kid",
    "row22: a rotated key reusing the old kid",
}


def steps_of(variant: dict[str, Any]) -> list[dict[str, Any]]:
    return variant.get("steps") or [variant]


def needs_time_travel(variant: dict[str, Any]) -> bool:
    """True when a step after the first presented token moves the clock or changes the JWKS."""
    presented = False
    for step in steps_of(variant):
        if presented and (step.get("advance") or "jwks" in step):
            return True
        presented = presented or "token" in step or "validate_again" in step
    return False


def initial_jwks(variant: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The JWKS the variant publishes before its first token (None: the default set)."""
    jwks = None
    for step in steps_of(variant):
        if "token" in step or "validate_again" in step:
            break
        jwks = step.get("jwks", jwks)
    return jwks


_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")


def jwt_shaped(token: str) -> bool:
    """DECISIONS.md#d32: three base64url segments whose header is a JSON object naming `alg`."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0] or not all(_SEGMENT.fullmatch(part) for part in parts):
        return False
    try:
        head = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except ValueError:
        return False
    return isinstance(head, dict) and "alg" in head


def carries_authorization_details(spec: dict[str, Any]) -> bool:
    return "details_entries" in spec or spec.get("claims", {}).get("authorization_details") is not None


class AuditTail:
    """The lines a file audit device appends, read from a mark."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def since_mark(self) -> tuple[str, list[dict[str, Any]]]:
        with self.path.open("rb") as log:
            log.seek(self.offset)
            text = log.read().decode()
        return text, [json.loads(line) for line in text.splitlines()]


class World:
    """One server with an audit log, and a namespace per distinct profile the corpus needs."""

    def __init__(self, server: vgtest.Server, stack: contextlib.ExitStack):
        self.server = server
        self.stack = stack
        self.audit = AuditTail(server.audit_log)
        self.attacker = stack.enter_context(jwks_server())
        self.attacker.keys = [jwk("rsa_attacker", kid="attacker")]
        self.namespaces: dict[str, str] = {}
        self.denied_headers: dict[str, str] | None = None

    def namespace_for(self, variant: dict[str, Any]) -> str:
        spec = variant.get("profile", {})
        assert set(spec) <= PROFILE_FIELDS, f"a profile field this runner does not know: {set(spec) - PROFILE_FIELDS}"
        jwks = initial_jwks(variant)
        key = json.dumps([spec, jwks], sort_keys=True)
        if key not in self.namespaces:
            self.namespaces[key] = self._build(spec, jwks)
        return self.namespaces[key]

    def _build(self, spec: dict[str, Any], jwks: list[dict[str, Any]] | None) -> str:
        name = "atk" + uuid.uuid4().hex[:10]
        assert self.server.client().post(f"sys/namespaces/{name}").status_code == 200
        client = self.server.client(namespace=name)
        body: dict[str, Any] = {"issuer_id": ISSUER, "audiences": spec.get("audiences", [AUDIENCE])}
        body.update({k: spec[k] for k in ("supported_algorithms", "clock_skew_leeway", "jwt_type") if k in spec})
        if spec.get("mode") == "jwks":
            idp: JwksServer = self.stack.enter_context(jwks_server())
            idp.keys = [jwk_entry(entry) for entry in jwks] if jwks is not None else [jwk("rsa", kid="k1")]
            body.update(use_jwks=True, jwks_uri=idp.url)
        else:
            keys = spec.get("keys", {"k1": "rsa"})
            body.update(use_jwks=False, public_keys=[{"key_id": k, "pem": public_pem(n)} for k, n in keys.items()])
            if KEYS_REFUSED_AT_WRITE & set(keys.values()):
                # The corpus's validator is handed such a key directly; the API never stores one, which
                # leaves the kid unknown to the validator, the outcome the corpus expects.
                resp = client.post("sys/config/oauth-resource-server/corpus", json=body)
                assert resp.status_code == 400, resp.text
                usable = {k: n for k, n in keys.items() if n not in KEYS_REFUSED_AT_WRITE} or {"k1": "rsa"}
                body["public_keys"] = [{"key_id": k, "pem": public_pem(n)} for k, n in usable.items()]
        resp = client.post("sys/config/oauth-resource-server/corpus", json=body)
        assert resp.status_code in (200, 204), resp.text
        policy = f'path "{READ_PATH}" {{ capabilities = ["read"] }}'
        assert client.post("sys/policies/acl/corpus-reader", json={"policy": policy}).status_code == 204
        resp = client.post("identity/entity", json={"name": "alice", "policies": ["corpus-reader"]})
        assert resp.status_code == 200, resp.text
        entity = resp.json()["data"]["id"]
        alias = {"name": "alice", "canonical_id": entity, "issuer": ISSUER, "external_id": "alice"}
        assert client.post("identity/entity-alias", json=alias).status_code == 200
        registration = {
            "display_name": "corpus-agent",
            "entity_id": entity,
            "ceiling_policies": ["corpus-reader"],
            "optional_authorization_details": True,
        }
        resp = client.post("agent-registry/register", json=registration)
        assert resp.status_code == 200, resp.text
        return name


@pytest.fixture(scope="module")
def world(backend_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("http-attacks")
    server = vgtest.Server(backend_url, workdir, workers=2, audit_log=workdir / "audit.log").start()
    try:
        with contextlib.ExitStack() as stack:
            yield World(server, stack)
    finally:
        server.stop()


@pytest.mark.parametrize(("case", "variant"), [pytest.param(c, v, id=variant_id(c, v)) for c, v in VARIANTS])
def test_attack_over_http(world: World, case: dict[str, Any], variant: dict[str, Any]) -> None:
    if needs_time_travel(variant):
        assert variant_id(case, variant) in CLOCK_OR_JWKS_MOVES
        pytest.skip("needs the server's clock to move or its JWKS to change between tokens (in-process only)")
    namespace = world.namespace_for(variant)
    with requests.Session() as agent:
        run_variant(world, agent, namespace, case, variant)
    assert world.attacker.hits == 0, "the attacker's URL named in a token was fetched"


def run_variant(
    world: World, agent: requests.Session, namespace: str, case: dict[str, Any], variant: dict[str, Any]
) -> None:
    """Present every token of the variant in turn, checking each answer and its audit lines."""
    shift, tokens, unique_ids = 0.0, {}, {}
    for number, step in enumerate(steps_of(variant), start=1):
        where = f"{case['file']} / {variant['name']} / step {number}"
        shift += step.get("advance", 0)  # before the first token only (needs_time_travel): issue it earlier
        if "validate_again" in step:
            token, spec = tokens[step["validate_again"]]
        elif "token" in step:
            issued = time.time() - shift  # fractional seconds: the edges of THREATS.md#t10 hold to the millisecond
            spec = resolve(step["token"], world.attacker.url, issued)
            token = build(spec, issued)
        else:
            continue
        if "as" in step:
            tokens[step["as"]] = (token, spec)
        entry = present(world, agent, namespace, token, spec, step, where)
        if entry is None:
            continue
        meta = entry["auth"]["metadata"]
        for name, expected in step.get("result", {}).items():
            assert name == "unique_id", f"{where}: no audit field for result {name!r}"
            assert meta["jwt_unique_id"] == expected, where
        if "same_unique_id_as" in step:
            other_id, other_hash = unique_ids[step["same_unique_id_as"]]
            assert meta["jwt_unique_id"] == other_id, f"{where}: another spelling is the same token"
            assert entry["auth"]["client_token"] != other_hash, f"{where}: but not the same token string"
        if "as" in step and "jwt_unique_id" in meta:
            unique_ids[step["as"]] = (meta["jwt_unique_id"], entry["auth"]["client_token"])


def present(
    world: World,
    agent: requests.Session,
    namespace: str,
    token: str,
    spec: dict[str, Any],
    step: dict[str, Any],
    where: str,
) -> dict[str, Any] | None:
    """Send the token, check the answer and its two audit lines; return the response entry (None when the
    HTTP parser refused the request before the application saw it)."""
    if step["expect"] == "accept" and carries_authorization_details(spec):
        status, body, decision, reason = 403, RAR_NO_MATCH, "deny", "rar_no_match"
    elif step["expect"] == "accept":
        status, body, decision, reason = 200, None, "allow", "allowed"
    elif len(token) > MAX_TOKEN_HEADER:
        status, body, decision, reason = 400, None, "deny", "too_large"
    else:
        status, body, decision = 403, DENIED, "deny"
        reason = step["reason"] if jwt_shaped(token) else "token_unknown"

    world.audit.mark()
    url = f"{world.server.url}/v1/{READ_PATH}"
    headers = {"X-Vault-Token": token, "X-Vault-Namespace": namespace, "X-Vault-Request": "true"}
    too_large_for_parser = len(token) > MAX_HEAD_BYTES
    try:
        resp = agent.get(url, headers=headers, timeout=30)
    except requests.RequestException:
        # The parser answers 431 and closes the connection as soon as the head passes its limit, which can
        # be while the client is still sending. Nothing reached the application.
        assert too_large_for_parser, where
        assert world.audit.since_mark()[1] == [], f"{where}: the application saw the request"
        return None
    if too_large_for_parser:
        assert resp.status_code == 431, f"{where}: {resp.status_code} {resp.text[:300]}"
        assert resp.text == f"request head larger than {MAX_HEAD_BYTES} bytes", where
        assert world.audit.since_mark()[1] == [], f"{where}: the application saw the request"
        return None
    assert resp.status_code == status, f"{where}: {resp.status_code} {resp.text[:300]}"
    answer = resp.json()
    if status == 200:
        assert answer["data"]["name"] == "corpus-reader", where
    elif status == 400:
        assert answer == {
            "errors": [f"authentication token is larger than the maximum allowed size of {MAX_TOKEN_HEADER} bytes"]
        }, where
    else:
        assert answer == body, where
    if body == DENIED:  # THREATS.md#t25: nothing in the answer tells one reason from another
        shown = {k: v for k, v in resp.headers.items() if k.lower() not in VARYING_HEADERS}
        if world.denied_headers is None:
            world.denied_headers = shown
        assert shown == world.denied_headers, where

    text, entries = world.audit.since_mark()
    assert [e["type"] for e in entries] == ["request", "response"], f"{where}: {text[:500]}"
    request, response = entries
    assert request["request"]["id"] == response["request"]["id"], where
    assert response["request"]["namespace"]["path"] == namespace + "/", where
    assert response["response"]["status_code"] == status, where
    for entry in (request, response):
        meta = entry["auth"]["metadata"]
        assert (meta["decision"], meta["reason"]) == (decision, reason), f"{where}: {meta}"
        assert entry["auth"]["policy_results"]["allowed"] is (decision == "allow"), where
        assert entry["auth"]["client_token"].startswith("hmac-sha256:"), where
    if decision == "deny":
        assert response["error"] == "; ".join(answer["errors"]), where
    if len(token) > 16:
        assert token not in text, f"{where}: the token is in the audit log in clear"
    return response


def test_only_the_variants_that_need_time_travel_are_left_to_the_in_process_runner() -> None:
    moving = {variant_id(c, v) for c, v in VARIANTS if needs_time_travel(v)}
    assert moving == CLOCK_OR_JWKS_MOVES
