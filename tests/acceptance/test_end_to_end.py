"""End to end: Terraform declares who may do what, the service enforces it on real signed tokens, and the
audit log records every decision.

One configuration, applied by the real Terraform CLI in a fresh namespace of a server started with an audit
log, declares a profile trusting a test issuer's static public keys (generated here), a human and an agent
entity with OAuth aliases, baseline and ceiling policies, and the agent's registration (authorization_details
required). Secrets are written with the root token over HTTP; then tokens minted for that issuer are allowed
only where the baseline, the ceiling and their authorization_details all allow, until a second apply removes
the registration.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from tf_steps import CHANGES, NO_CHANGES, apply, ok, plan, state_values

import vgtest

pytestmark = pytest.mark.terraform

ISSUER = "https://idp.end-to-end.example"
AUDIENCE = "https://vaultguard.end-to-end.example"
DENIED = {"errors": ["permission denied"]}
RAR_REQUIRED = {"errors": ["authorization_details claim is required"]}
RAR_NO_MATCH = {
    "errors": [
        "2 errors occurred:\n\t* RAR_NO_MATCH: No valid authorization_details claim found matching this request."
        "\n\t* permission denied\n\n"
    ]
}
SECRETS = {
    "allowed": {"report": "q3-numbers"},  # baseline, ceiling and the token's details allow it
    "beyond-ceiling": {"payroll": "confidential"},  # the baseline allows it, the ceiling does not
    "beyond-details": {"roadmap": "draft"},  # baseline and ceiling allow it, the token's details do not
}


def public_pem(private_key: Any) -> str:
    public = private_key.public_key()
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@dataclass
class Issuer:
    """The test identity provider: two signing keys, published to the service as static PEMs."""

    es256: ec.EllipticCurvePrivateKey
    eddsa: ed25519.Ed25519PrivateKey

    def mint(self, sub: str, *, eddsa: bool = False, **claims: Any) -> str:
        """A signed RFC 9068 access token issued now; `claims` are added (e.g. act, authorization_details)."""
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "exp": now + 600, "jti": uuid.uuid4().hex}
        payload.update(claims)
        key, alg, kid = (self.eddsa, "EdDSA", "ed-1") if eddsa else (self.es256, "ES256", "es-1")
        return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid, "typ": "at+jwt"})


def read_details(*names: str) -> list[dict[str, Any]]:
    return [{"type": "vault:path_access", "path": f"secret/data/app/{n}", "capabilities": ["read"]} for n in names]


def configuration(issuer: Issuer, *, registered: bool) -> str:
    """The whole setup as HCL; `registered=False` is the same without the agent's registration."""
    keys = "".join(
        f"  public_keys {{\n    key_id = {json.dumps(kid)}\n    pem    = {json.dumps(public_pem(key))}\n  }}\n"
        for kid, key in (("es-1", issuer.es256), ("ed-1", issuer.eddsa))
    )
    text = f"""
resource "vault_oauth_resource_server_config_profile" "idp" {{
  profile_name         = "end-to-end-idp"
  issuer_id            = "{ISSUER}"
  use_jwks             = false
  audiences            = ["{AUDIENCE}"]
  supported_algorithms = ["ES256", "EdDSA"]
{keys}}}

resource "vault_policy" "baseline" {{
  name   = "app-reader"
  policy = <<-EOT
    path "secret/data/app/*" {{
      capabilities = ["read"]
    }}
  EOT
}}

resource "vault_policy" "ceiling" {{
  name   = "report-bot-ceiling"
  policy = <<-EOT
    path "secret/data/app/allowed" {{
      capabilities = ["read"]
    }}
    path "secret/data/app/beyond-details" {{
      capabilities = ["read"]
    }}
  EOT
}}

resource "vault_identity_entity" "human" {{
  name     = "alice"
  policies = [vault_policy.baseline.name]
}}

resource "vault_identity_entity" "agent" {{
  name     = "report-bot"
  policies = [vault_policy.baseline.name]
}}

resource "vault_identity_entity_alias" "human" {{
  name         = "alice@idp"
  canonical_id = vault_identity_entity.human.id
  issuer       = vault_oauth_resource_server_config_profile.idp.issuer_id
  external_id  = "alice"
}}

resource "vault_identity_entity_alias" "agent" {{
  name         = "report-bot@idp"
  canonical_id = vault_identity_entity.agent.id
  issuer       = vault_oauth_resource_server_config_profile.idp.issuer_id
  external_id  = "report-bot"
}}
"""
    if registered:
        text += """
resource "vault_agent_registration" "agent" {
  display_name                   = "report-bot"
  entity_id                      = vault_identity_entity.agent.id
  owner                          = "reporting-team"
  ceiling_policies               = [vault_policy.ceiling.name]
  optional_authorization_details = false
}
"""
    return text


@dataclass
class Call:
    """One agent request and what its audit lines must say."""

    token: str
    path: str
    decision: str
    reason: str


@pytest.fixture(scope="module")
def audited_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[vgtest.Server]:
    """A server of its own, with a file audit device."""
    workdir = tmp_path_factory.mktemp("end-to-end")
    srv = vgtest.Server(
        "sqlite:///" + str(workdir / "end-to-end.db"), workdir, workers=2, audit_log=workdir / "audit.log"
    ).start()
    try:
        yield srv
    finally:
        srv.stop()


def test_terraform_declares_agents_the_service_enforces_and_the_audit_log_records(terraform, audited_service):
    srv = audited_service
    namespace = "e2e" + uuid.uuid4().hex[:10]
    assert srv.client().post(f"sys/namespaces/{namespace}").status_code == 200
    root = srv.client(namespace=namespace)
    issuer = Issuer(ec.generate_private_key(ec.SECP256R1()), ed25519.Ed25519PrivateKey.generate())
    terraform.configure_provider(address=srv.url, token=srv.root_token, namespace=namespace)
    terraform.write("main.tf", configuration(issuer, registered=True))
    ok(terraform("init"))

    assert plan(terraform).rc == CHANGES
    apply(terraform)
    assert plan(terraform).rc == NO_CHANGES
    human = state_values(terraform, "vault_identity_entity.human")["id"]
    agent = state_values(terraform, "vault_identity_entity.agent")["id"]
    registration = state_values(terraform, "vault_agent_registration.agent")["id"]

    for name, data in SECRETS.items():
        resp = root.post(f"secret/data/app/{name}", json={"data": data})
        assert resp.status_code == 200, resp.text

    calls: list[Call] = []

    def call(token: str, name: str, status: int, body: dict | None, decision: str, reason: str) -> None:
        path = f"secret/data/app/{name}"
        resp = root.with_token(token).get(path)
        assert resp.status_code == status, resp.text
        if body is None:
            assert resp.json()["data"]["data"] == SECRETS[name]
        else:
            assert resp.json() == body
        calls.append(Call(token, path, decision, reason))

    direct = issuer.mint("report-bot", authorization_details=read_details("allowed", "beyond-ceiling"))
    call(direct, "allowed", 200, None, "allow", "allowed")
    # Named in the details and allowed by the baseline, but not in the ceiling.
    call(direct, "beyond-ceiling", 403, DENIED, "deny", "ceiling_no_matching_path")
    call(direct, "beyond-details", 403, RAR_NO_MATCH, "deny", "rar_no_match")
    call(issuer.mint("report-bot"), "allowed", 403, RAR_REQUIRED, "deny", "authorization_details_required")
    # On behalf of alice: her baseline, the agent's ceiling, the token's details.
    delegated = issuer.mint(
        "alice", eddsa=True, act={"sub": "report-bot"}, authorization_details=read_details("allowed")
    )
    call(delegated, "allowed", 200, None, "allow", "allowed")

    # The registration goes away with the next apply; the very next request with the same token is refused.
    terraform.write("main.tf", configuration(issuer, registered=False))
    assert plan(terraform).rc == CHANGES
    apply(terraform)
    assert plan(terraform).rc == NO_CHANGES
    assert root.get(f"agent-registry/registration/id/{registration}").status_code == 404
    call(direct, "allowed", 403, DENIED, "deny", "subject_not_registered")

    # Exactly one request line and one response line per request, with the decision and its reason.
    hashes = {}
    for token in {c.token for c in calls}:
        resp = srv.client().post("sys/audit-hash/file", json={"input": token})
        assert resp.status_code == 200, resp.text
        hashes[token] = resp.json()["data"]["hash"]
    text = srv.audit_log.read_text()
    entries = [json.loads(line) for line in text.splitlines()]
    for token in hashes:
        assert token not in text, "a JWT is in the audit log in clear"
        mine = [e for e in entries if e["request"]["client_token"] == hashes[token]]
        expected = [c for c in calls if c.token == token]
        ids = list(dict.fromkeys(e["request"]["id"] for e in mine))
        assert len(ids) == len(expected), [(e["type"], e["request"]["path"]) for e in mine]
        for request_id, want in zip(ids, expected, strict=True):
            pair = [e for e in mine if e["request"]["id"] == request_id]
            assert [e["type"] for e in pair] == ["request", "response"], pair
            for entry in pair:
                meta = entry["auth"]["metadata"]
                assert entry["request"]["path"] == want.path
                assert entry["request"]["namespace"]["path"] == namespace + "/"
                assert (meta["decision"], meta["reason"]) == (want.decision, want.reason), meta
                assert meta["jwt_issuer"] == ISSUER and meta["jwt_audience_claim"] == [AUDIENCE]
                if want.reason == "subject_not_registered":
                    assert meta["layer"] == "registry"
                else:
                    assert meta["agent_registration_id"] == registration
                    assert meta["agent_display_name"] == "report-bot"
            response = pair[1]
            assert response["response"]["status_code"] == (200 if want.decision == "allow" else 403)

    delegated_response = [e for e in entries if e["request"]["client_token"] == hashes[delegated]][-1]
    assert delegated_response["auth"]["entity_id"] == human
    assert delegated_response["auth"]["metadata"]["actor_entity_id"] == agent
    direct_response = [e for e in entries if e["request"]["client_token"] == hashes[direct]][1]
    assert direct_response["auth"]["entity_id"] == agent
    assert "actor_entity_id" not in direct_response["auth"]["metadata"]
