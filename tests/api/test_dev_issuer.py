"""The development issuer (`vaultguard dev-issuer`) and `vaultguard token mint` against a real server.

A JWKS-mode profile trusts the dev issuer's JWKS on loopback (http: accepted with a warning); its token
endpoint's client_credentials tokens, narrowed by `authorization_details`, read what they grant and nothing
else. `token mint` signs offline with a key file that a static-key profile trusts. The CLI's error cases
answer with one line and exit status 2.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from agent_world import rar
from api_objects import create_entity, put_policy
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

import vgtest
from vaultguard.service.devissuer import DevIssuer

AUDIENCE = "https://vaultguard.dev.example"
DENIED = {"errors": ["permission denied"]}
ALLOWED_PATH = "sys/policy/policy-reader"
OTHER_PATH = "sys/policy/default"
WARN_HTTP_JWKS = "JWKS URI uses HTTP instead of HTTPS. This is insecure and should only be used in development."


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevIssuer]:
    issuer = DevIssuer("127.0.0.1:0", key_dir=tmp_path_factory.mktemp("dev-keys"), audience=AUDIENCE, log=False)
    with issuer:
        yield issuer


def setup_agent(api: vgtest.Client, issuer: str) -> tuple[str, str]:
    """Baseline + ceiling policies, a human and an agent entity with aliases for `issuer`, the agent's
    registration (the shape of agent_world.build). Returns (human, agent) entity ids."""
    put_policy(api, "policy-reader", 'path "sys/policy/*" { capabilities = ["read"] }')
    human = create_entity(api, "alice", policies=["policy-reader"])
    agent = create_entity(api, "report-bot", policies=["policy-reader"])
    for entity, external_id in ((human, "alice"), (agent, "agent-bot")):
        alias = {"name": external_id, "canonical_id": entity, "issuer": issuer, "external_id": external_id}
        resp = api.post("identity/entity-alias", json=alias)
        assert resp.status_code == 200, resp.text
    body = {"display_name": "report-bot", "entity_id": agent, "ceiling_policies": ["policy-reader"]}
    resp = api.post("agent-registry/register", json=body)
    assert resp.status_code == 200, resp.text
    return human, agent


def status(api: vgtest.Client, token: str, path: str) -> int:
    resp = api.with_token(token).get(path)
    if resp.status_code == 403:
        assert "permission denied" in resp.json()["errors"][-1], resp.text
    return resp.status_code


def refused_by_rar(api: vgtest.Client, token: str, path: str) -> bool:
    """403 with the RAR form of DECISIONS.md#d5: the token was valid, the request outside its authorization_details."""
    resp = api.with_token(token).get(path)
    return resp.status_code == 403 and "RAR_NO_MATCH" in resp.text


def fetch_token(dev: DevIssuer, *, form: bool = True, **params: object) -> str:
    params = {"grant_type": "client_credentials", **params}
    if form:
        data = {k: json.dumps(v) if isinstance(v, list) else v for k, v in params.items()}
        resp = requests.post(dev.token_url, data=data, timeout=5)
    else:
        resp = requests.post(dev.token_url, json=params, timeout=5)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    return body["access_token"]


def test_dev_issuer_tokens_are_accepted_through_a_jwks_profile_and_narrowed_by_rar(api, dev):
    discovery = requests.get(dev.url + "/.well-known/openid-configuration", timeout=5).json()
    assert discovery["issuer"] == dev.issuer and discovery["jwks_uri"] == dev.jwks_url
    assert discovery["authorization_details_types_supported"] == ["vault:path_access"]

    details = [rar(ALLOWED_PATH, "read")]
    before = fetch_token(dev, client_id="agent-bot", authorization_details=details)
    kids = requests.post(dev.url + "/rotate", timeout=5).json()["keys"]
    assert len(kids) == 4, "the new RS256 and ES256 keys, and the previous pair for the overlap"
    after = fetch_token(dev, form=False, client_id="agent-bot", authorization_details=details)
    es256 = fetch_token(dev, client_id="agent-bot", alg="ES256", authorization_details=details)

    body = {"issuer_id": dev.issuer, "jwks_uri": dev.jwks_url, "audiences": [AUDIENCE]}
    resp = api.post("sys/config/oauth-resource-server/dev-idp", json=body)
    assert resp.status_code == 200, resp.text
    assert WARN_HTTP_JWKS in resp.json()["warnings"]
    setup_agent(api, dev.issuer)  # the aliases need the profile; nothing is fetched before a token needs keys

    for token in (before, after, es256):
        assert status(api, token, ALLOWED_PATH) == 200
        assert refused_by_rar(api, token, OTHER_PATH)
    # Without authorization_details (required by default, DECISIONS.md#d5); for a client without an alias.
    plain = api.with_token(fetch_token(dev, client_id="agent-bot")).get(ALLOWED_PATH)
    assert plain.status_code == 403 and plain.json() == {"errors": ["authorization_details claim is required"]}
    assert status(api, fetch_token(dev, client_id="stranger", authorization_details=details), ALLOWED_PATH) == 403
    # Delegation: the human is the subject, the registered agent the actor (act.sub).
    delegated = fetch_token(
        dev, client_id="agent-bot", subject="alice", actor="agent-bot", authorization_details=details
    )
    assert status(api, delegated, ALLOWED_PATH) == 200
    assert refused_by_rar(api, delegated, OTHER_PATH)


def test_the_token_endpoint_refuses_bad_requests(dev):
    cases = [
        ({"grant_type": "password", "client_id": "a"}, 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, 401, "invalid_client"),
        ({"grant_type": "client_credentials", "client_id": "a", "ttl": "25h"}, 400, "invalid_request"),
        (
            {"grant_type": "client_credentials", "client_id": "a", "authorization_details": "{not json"},
            400,
            "invalid_authorization_details",
        ),
        (
            {"grant_type": "client_credentials", "client_id": "a", "authorization_details": '{"type": "x"}'},
            400,
            "invalid_authorization_details",
        ),
    ]
    for data, code, error in cases:
        resp = requests.post(dev.token_url, data=data, timeout=5)
        assert (resp.status_code, resp.json()["error"]) == (code, error), data


# --- `vaultguard token mint` and `vaultguard dev-issuer` as commands ------------------------------------------------


def write_key(path: Path, key: object) -> Path:
    path.write_bytes(
        key.private_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return path


def public_pem(key: object) -> str:
    public = key.public_key()  # type: ignore[attr-defined]
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([vgtest.VAULTGUARD, *args], capture_output=True, text=True, timeout=30)


def test_token_mint_with_an_exported_key_is_accepted_by_a_static_key_profile(api, tmp_path):
    issuer = "https://mint.dev.example"
    keys = {
        "k-rsa": (rsa.generate_private_key(65537, 2048), "RS256"),
        "k-ec": (ec.generate_private_key(ec.SECP256R1()), "ES256"),
        "k-ed": (ed25519.Ed25519PrivateKey.generate(), "EdDSA"),
    }
    body = {
        "issuer_id": issuer,
        "use_jwks": False,
        "public_keys": [{"key_id": kid, "pem": public_pem(key)} for kid, (key, _) in keys.items()],
        "audiences": [AUDIENCE],
    }
    resp = api.post("sys/config/oauth-resource-server/minted", json=body)
    assert resp.status_code in (200, 204), resp.text
    setup_agent(api, issuer)
    details = tmp_path / "rar.json"
    details.write_text(json.dumps([rar(ALLOWED_PATH, "read")]))

    for kid, (key, alg) in keys.items():
        key_file = write_key(tmp_path / f"{kid}.pem", key)
        out = cli(
            "token", "mint", "--key", str(key_file), "--issuer", issuer, "--kid", kid, "--sub", "agent-bot",
            "--aud", AUDIENCE, "--authorization-details", f"@{details}", "--ttl", "5m", "--alg", alg,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        token = out.stdout.strip()
        assert token.count(".") == 2
        assert status(api, token, ALLOWED_PATH) == 200, kid
        assert refused_by_rar(api, token, OTHER_PATH), kid


@pytest.fixture(scope="module")
def rsa_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_key(tmp_path_factory.mktemp("mint") / "rsa.pem", rsa.generate_private_key(65537, 2048))


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--key", "/nonexistent/key.pem"], "cannot read key file"),
        (["--key", "PUBLIC"], "does not hold a PEM private key"),
        (["--authorization-details", "{not json"], "not valid JSON"),
        (["--authorization-details", '{"type": "vault:path_access"}'], "JSON array of objects"),
        (["--authorization-details", "@/nonexistent/rar.json"], "cannot read"),
        (["--ttl", "25h"], "exceeds 24 h"),
        (["--ttl", "soon"], "invalid ttl"),
        (["--alg", "ES256"], "cannot sign ES256"),
    ],
)
def test_token_mint_errors_are_one_line_with_exit_status_2(rsa_key_file, tmp_path, extra, message):
    args = ["--key", str(rsa_key_file), "--issuer", "https://i.example", "--kid", "k", "--sub", "s"]
    if extra[:2] == ["--key", "PUBLIC"]:
        public = tmp_path / "public.pem"
        public.write_text(public_pem(serialization.load_pem_private_key(rsa_key_file.read_bytes(), None)))
        extra = ["--key", str(public)]
    out = cli("token", "mint", *args, *extra)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], out.stderr
    assert "Traceback" not in out.stderr


def start_dev_issuer(key_dir: Path) -> tuple[subprocess.Popen, dict[str, str]]:
    proc = subprocess.Popen(
        [vgtest.VAULTGUARD, "dev-issuer", "--listen", "127.0.0.1:0", "--key-dir", str(key_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    banner: dict[str, str] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("DEV ISSUER: for development only"):
            banner["marker"] = line
        name, sep, value = line.strip().partition(":  ")
        if sep:
            banner[name.strip()] = value.strip()
        if "token endpoint" in banner:
            break
    return proc, banner


def test_dev_issuer_command_prints_the_banner_and_keeps_its_keys_across_restarts(tmp_path):
    kids = []
    for _ in range(2):
        proc, banner = start_dev_issuer(tmp_path / "keys")
        try:
            assert "marker" in banner and banner["JWKS URL"].startswith("http://127.0.0.1:")
            jwks = requests.get(banner["JWKS URL"], timeout=5).json()
            assert {k["alg"] for k in jwks["keys"]} == {"RS256", "ES256"}
            assert all(k["use"] == "sig" and k["kid"] for k in jwks["keys"])
            kids.append(sorted(k["kid"] for k in jwks["keys"]))
        finally:
            proc.terminate()
            proc.wait(10)
    assert kids[0] == kids[1], "keys persisted in --key-dir survive a restart"
    pems = sorted(p.name for p in (tmp_path / "keys").glob("*.pem"))
    assert pems == sorted(f"{kid}.pem" for kid in kids[0])


def test_dev_issuer_command_rejects_a_bad_listen_address():
    out = cli("dev-issuer", "--listen", "127.0.0.1:notaport")
    assert out.returncode == 2 and out.stderr.startswith("Error: ") and "Traceback" not in out.stderr
