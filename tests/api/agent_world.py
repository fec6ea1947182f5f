"""A small, real agent setup on a live server: a profile trusting an issuer's static keys, a human and an
agent entity with OAuth aliases, baseline and ceiling policies, the agent's registration, and a minter of
real signed access tokens for that issuer (current time)."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from api_objects import create_entity, put_policy
from security import jwt_forge

import vgtest

ISSUER = "https://idp.agents.example"
AUDIENCE = "https://vaultguard.example"
KEYS = {"rsa": "RS256", "p256": "ES256", "ed25519": "EdDSA"}


@dataclass
class AgentWorld:
    client: vgtest.Client
    human: str  # entity ids
    agent: str
    registration: str
    profile: str = "agents-idp"
    policies: dict[str, str] = field(default_factory=dict)

    def mint(self, key: str = "rsa", *, alg: str | None = None, **claims: Any) -> str:
        """A valid token for this issuer; claims override (None removes), e.g. authorization_details=[...]."""
        now = int(time.time())
        payload = jwt_forge.claims(now, iss=ISSUER, aud=AUDIENCE, sub="agent-bot", jti=uuid.uuid4().hex)
        for name, value in claims.items():
            if value is None:
                payload.pop(name, None)
            else:
                payload[name] = value
        alg = alg or KEYS[key]
        return jwt_forge.token(key, head=jwt_forge.header(alg, kid=key), payload=payload)

    def as_agent(self, token: str) -> vgtest.Client:
        return self.client.with_token(token)


def rar(path: str, *capabilities: str, **extra: Any) -> dict:
    return {"type": "vault:path_access", "path": path, "capabilities": list(capabilities), **extra}


def build(client: vgtest.Client, *, ceiling: list[str] | None = None, **registration: Any) -> AgentWorld:
    """Create everything through the admin API in the client's namespace."""
    resp = client.post(
        "sys/config/oauth-resource-server/agents-idp",
        json={
            "issuer_id": ISSUER,
            "use_jwks": False,
            "public_keys": [{"key_id": k, "pem": jwt_forge.public_pem(k)} for k in KEYS],
            "audiences": [AUDIENCE],
        },
    )
    assert resp.status_code in (200, 204), resp.text
    put_policy(client, "policy-reader", 'path "sys/policy/*" { capabilities = ["read"] }')
    put_policy(client, "agent-ceiling", 'path "sys/policy/policy-reader" { capabilities = ["read"] }')
    human = create_entity(client, "alice", policies=["policy-reader"])
    agent = create_entity(client, "report-bot", policies=["policy-reader"])
    for entity, external_id in ((human, "alice"), (agent, "agent-bot")):
        resp = client.post(
            "identity/entity-alias",
            json={"name": external_id, "canonical_id": entity, "issuer": ISSUER, "external_id": external_id},
        )
        assert resp.status_code == 200, resp.text
    resp = client.post(
        "agent-registry/register",
        json={
            "display_name": "report-bot",
            "entity_id": agent,
            "ceiling_policies": ceiling if ceiling is not None else ["agent-ceiling"],
            **registration,
        },
    )
    assert resp.status_code == 200, resp.text
    return AgentWorld(client, human, agent, resp.json()["data"]["id"])


@contextlib.contextmanager
def grpc_world(server: vgtest.Server, prefix: str) -> Iterator[AgentWorld]:
    """`build` in a new namespace of `server` (started by vgtest.grpc_server), with `namespace` and a stub on
    its gRPC decision API (`stub`)."""
    import grpc

    from vaultguard.proto.decision.v1 import decision_pb2_grpc

    name = prefix + uuid.uuid4().hex[:10]
    assert server.client().post(f"sys/namespaces/{name}").status_code == 200
    world = build(server.client(namespace=name))
    world.namespace = name
    with grpc.insecure_channel(server.grpc_address) as channel:
        world.stub = decision_pb2_grpc.DecisionServiceStub(channel)
        yield world
