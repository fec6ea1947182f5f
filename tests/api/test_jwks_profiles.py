"""Profiles in JWKS mode against a real JWKS endpoint on loopback (DECISIONS.md#d30, #d14): keys are fetched from
`jwks_uri` (http with a warning, https verified against `jwks_ca_pem`), rotated with an overlap, removed, and
kept through an outage (stale-if-error).

The server runs on real time and DECISIONS.md#d14 allows one refresh per profile per 10 s, so everything that needs a
refresh happens in one timeline per backend, the two side by side in one test with a single wait of a little
over 10 s. The JWKS cache lives in each worker process, so this module's servers have one worker: "the last
fetch" is then one cache's.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import pytest
import requests
from security.jwt_forge import AUDIENCE, JwksServer, claims, header, jwk, jwks_server, tls_material, token

import vgtest

BASE = "sys/config/oauth-resource-server"
READ_PATH = "sys/policy/jwks-reader"
DENIED = {"errors": ["permission denied"]}
WARN_HTTP_JWKS = "JWKS URI uses HTTP instead of HTTPS. This is insecure and should only be used in development."
REFRESH_INTERVAL = 10.0  # DECISIONS.md#d14: at most one JWKS fetch per profile per 10 s
MARGIN = 0.5


@pytest.fixture(scope="module")
def server(backend_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[vgtest.Server]:
    """Overrides the shared two-worker server for this module (the `api` fixture then uses this one)."""
    srv = vgtest.Server(backend_url, tmp_path_factory.mktemp("jwks-server"), workers=1).start()
    try:
        yield srv
    finally:
        srv.stop()


@dataclass
class Idp:
    """An issuer a JWKS profile trusts."""

    issuer: str

    def mint(self, key: str = "rsa", kid: str = "k1", alg: str = "RS256") -> str:
        """A fresh signed access token for the registered agent (a new jti each time)."""
        payload = claims(
            int(time.time()),
            iss=self.issuer,
            aud=AUDIENCE,
            sub="agent-bot",
            jti=uuid.uuid4().hex,
            authorization_details=[{"type": "vault:path_access", "path": READ_PATH, "capabilities": ["read"]}],
        )
        return token(key, head=header(alg, kid=kid), payload=payload)


class Agents:
    """One agent entity, registered, whose OAuth aliases follow every issuer the namespace trusts."""

    def __init__(self, api: vgtest.Client):
        self.api = api
        policy = f'path "{READ_PATH}" {{ capabilities = ["read"] }}'
        assert api.post("sys/policies/acl/jwks-reader", json={"policy": policy}).status_code == 204
        resp = api.post("identity/entity", json={"name": "agent", "policies": ["jwks-reader"]})
        assert resp.status_code == 200, resp.text
        self.entity = resp.json()["data"]["id"]
        body = {"display_name": "agent", "entity_id": self.entity, "ceiling_policies": ["jwks-reader"]}
        resp = api.post("agent-registry/register", json=body)
        assert resp.status_code == 200, resp.text

    def trust(self, name: str, jwks: JwksServer, **fields: object) -> tuple[Idp, dict]:
        """A JWKS profile for a new issuer, and the agent's alias for it; returns the issuer and the write's
        response body (warnings)."""
        issuer = f"https://{name}.idp.example"
        body = {"issuer_id": issuer, "jwks_uri": jwks.url, "audiences": [AUDIENCE], **fields}
        resp = self.api.post(f"{BASE}/{name}", json=body)
        assert resp.status_code in (200, 204), resp.text
        alias = {"name": f"agent-bot@{name}", "canonical_id": self.entity, "issuer": issuer, "external_id": "agent-bot"}
        assert self.api.post("identity/entity-alias", json=alias).status_code == 200
        return Idp(issuer), resp.json() if resp.status_code == 200 else {}

    def read(self, tok: str) -> int:
        """Status of the agent's read with this token (403 only ever with the DECISIONS.md#d5 body)."""
        resp = self.api.with_token(tok).get(READ_PATH)
        if resp.status_code == 403:
            assert resp.json() == DENIED
        return resp.status_code


def test_a_token_signed_by_a_published_key_is_accepted_and_an_http_jwks_uri_only_warns(api):
    agents = Agents(api)
    with jwks_server() as jwks:
        jwks.keys = [jwk("rsa", kid="k1"), jwk("p256", kid="e1")]
        idp, written = agents.trust("plain-http", jwks)
        assert WARN_HTTP_JWKS in written["warnings"]
        assert jwks.hits == 0, "nothing is fetched before a token needs the keys"

        assert agents.read(idp.mint()) == 200
        assert agents.read(idp.mint()) == 200
        assert jwks.hits == 1, "the key set is cached"
        assert agents.read(idp.mint("rsa_attacker")) == 403, "a kid that is published, signed by another key"
        assert agents.read(idp.mint("p256", kid="e1", alg="ES256")) == 200, "every key of the set is usable"
        assert agents.read(idp.mint("p256", kid="k1", alg="ES256")) == 403, "an EC signature under the RSA kid"
        assert jwks.paths == ["/.well-known/jwks.json"], "only the configured jwks_uri is fetched"


def test_an_https_jwks_is_trusted_through_jwks_ca_pem_only(api):
    agents = Agents(api)
    tls = tls_material()
    with jwks_server(tls.server_context) as pinned, jwks_server(tls.server_context) as unpinned:
        pinned.keys = unpinned.keys = [jwk("rsa", kid="k1")]
        idp, written = agents.trust("pinned", pinned, jwks_ca_pem=tls.ca_pem)
        assert WARN_HTTP_JWKS not in written.get("warnings", [])
        assert agents.read(idp.mint()) == 200
        assert pinned.hits == 1

        # Without the CA the test certificate is not trusted: no key set, so no token verifies.
        other, _ = agents.trust("unpinned", unpinned)
        assert agents.read(other.mint()) == 403
        assert unpinned.hits == 0, "the TLS handshake failed before any request"


@pytest.fixture(scope="module")
def servers_of_both_engines(
    pg_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[vgtest.Server]]:
    """One single-worker server per storage engine, for the rotation test that runs on both at once."""
    work = tmp_path_factory.mktemp("jwks-rotation")
    with ExitStack() as stack:
        servers = []
        for url in ("sqlite:///" + str(work / "rotation.db"), pg_database):
            server = vgtest.Server(url, work, workers=1).start()
            stack.callback(server.stop)
            servers.append(server)
        yield servers


@contextmanager
def rotation_timeline(agents: Agents) -> Iterator[float]:
    """Four issuers see their first fetch, then change; yields when the first fetches were made, and checks
    the outcome when the caller has waited past the refresh interval (on leaving the `with`)."""
    with ExitStack() as stack, ExitStack() as outage:
        servers = {name: stack.enter_context(jwks_server()) for name in ("overlap", "removal", "failing")}
        servers["down"] = outage.enter_context(jwks_server())
        idps = {}
        for name, jwks in servers.items():
            jwks.keys = [jwk("rsa", kid="k1")]
            idps[name], _ = agents.trust(name, jwks)
        old = {name: idp.mint() for name, idp in idps.items()}  # k1 tokens, presented again later
        for name in idps:
            assert agents.read(old[name]) == 200, name
        first_fetch = time.monotonic()  # every fetch so far started before this point
        assert all(jwks.hits == 1 for jwks in servers.values())

        # Rotation starts: k2 is published next to k1. Within 10 s of the last fetch an unknown kid does not
        # refetch (the rate limit of DECISIONS.md#d14), so a k2 token is refused for now.
        servers["overlap"].keys = [jwk("rsa", kid="k1"), jwk("rsa_other", kid="k2")]
        assert agents.read(idps["overlap"].mint("rsa_other", kid="k2")) == 403
        assert servers["overlap"].hits == 1
        # k1 is replaced by k2 at once; the IdP behind "down" goes away; the one behind "failing" errors.
        servers["removal"].keys = [jwk("rsa_other", kid="k2")]
        servers["failing"].status = 503
        outage.close()
        with pytest.raises(requests.ConnectionError):
            requests.get(servers["down"].url, timeout=5)

        yield first_fetch

        # Overlap: the new kid triggers one refetch, and both keys verify.
        assert agents.read(idps["overlap"].mint("rsa_other", kid="k2")) == 200
        assert agents.read(old["overlap"]) == 200
        assert agents.read(idps["overlap"].mint()) == 200
        assert servers["overlap"].hits == 2

        # Removal: the refetch a k2 token triggers drops k1, and k1 tokens are refused from then on (their
        # unknown kid may not refetch again within 10 s).
        assert agents.read(idps["removal"].mint("rsa_other", kid="k2")) == 200
        assert agents.read(old["removal"]) == 403
        assert agents.read(idps["removal"].mint()) == 403
        assert servers["removal"].hits == 2

        # Outage: an unknown kid makes the server try the JWKS again, which fails; the last good set is
        # still served (DECISIONS.md#d14: for up to 1 h), to tokens already seen and to new ones alike.
        for name in ("down", "failing"):
            assert agents.read(idps[name].mint("rsa_other", kid="k2")) == 403, name
            assert agents.read(old[name]) == 200, name
            assert agents.read(idps[name].mint()) == 200, name
        assert servers["failing"].hits == 2, "the refetch was tried once, and failed"


def test_keys_rotate_with_an_overlap_are_removed_and_survive_an_outage(servers_of_both_engines):
    """One timeline per storage engine, run side by side, and one wait past the refresh interval for both."""
    with ExitStack() as timelines:
        first_fetches = []
        for server in servers_of_both_engines:
            namespace = "t" + uuid.uuid4().hex[:12]
            assert server.client().post(f"sys/namespaces/{namespace}").status_code == 200
            first_fetches.append(timelines.enter_context(rotation_timeline(Agents(server.client(namespace)))))
        time.sleep(max(0.0, max(first_fetches) + REFRESH_INTERVAL + MARGIN - time.monotonic()))
