"""Where a real server fetches a profile's JWKS from (docs/security.md, "Outbound requests"): a production
server refuses a plain-http jwks_uri and loopback or private addresses unless `jwks_allowed_networks` allows
them, without sending a request; the dev server fetches them. What a failed fetch returned stays in the server
log: the explain report never carries the remote status code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from api.test_jwks_profiles import Agents
from security.jwt_forge import jwk, jwks_server, tls_material

import vgtest

ROOT = "hvs.jwks-controls-root"


def production(tmp_path: Path, allowed_networks: list[str] | None = None) -> vgtest.Server:
    """A production-mode server (config file, operator's root token) on loopback; sqlite: no storage involved."""
    token_file = tmp_path / "root-token"
    token_file.write_text(ROOT + "\n")
    allowed = f"jwks_allowed_networks = {json.dumps(allowed_networks)}" if allowed_networks is not None else ""
    config = tmp_path / "server.hcl"
    config.write_text(
        f"""
        listener "tcp" {{ address = "127.0.0.1:1" }}
        storage "sqlite" {{ path = "{tmp_path / "prod.db"}" }}
        initial_root_token_file = "{token_file}"
        {allowed}
        """
    )
    return vgtest.Server("", tmp_path, config_file=config, root_token=ROOT).start()


@pytest.fixture(scope="module")
def closed(tmp_path_factory):
    srv = production(tmp_path_factory.mktemp("closed"))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def loopback_allowed(tmp_path_factory):
    srv = production(tmp_path_factory.mktemp("allowed"), ["127.0.0.0/8"])
    try:
        yield srv
    finally:
        srv.stop()


def agents(srv: vgtest.Server, name: str) -> Agents:
    assert srv.client().post(f"sys/namespaces/{name}").status_code == 200
    return Agents(srv.client(namespace=name))


def test_production_refuses_a_plain_http_jwks_uri_without_a_request(closed, loopback_allowed):
    for srv in (closed, loopback_allowed):
        group = agents(srv, "plain")
        with jwks_server() as jwks:
            jwks.keys = [jwk("rsa", kid="k1")]
            idp, _ = group.trust("plain", jwks)
            assert group.read(idp.mint()) == 403
            assert jwks.hits == 0
        assert "must use https outside dev mode" in srv.log.read_text()


def test_production_refuses_loopback_https_unless_its_network_is_allowed(closed, loopback_allowed):
    tls = tls_material()
    with jwks_server(tls.server_context) as jwks:
        jwks.keys = [jwk("rsa", kid="k1")]
        for name in ("127.0.0.1", "localhost"):  # a name is judged by the addresses it resolves to
            group = agents(closed, "refused-" + name.replace(".", "-"))
            idp, _ = group.trust("loop", jwks, jwks_uri=jwks.url.replace("127.0.0.1", name), jwks_ca_pem=tls.ca_pem)
            assert group.read(idp.mint()) == 403
        assert jwks.hits == 0, "refused before any connection"
        assert "internal address outside jwks_allowed_networks" in closed.log.read_text()

        group = agents(loopback_allowed, "allowed")
        idp, _ = group.trust("loop", jwks, jwks_ca_pem=tls.ca_pem)
        assert group.read(idp.mint()) == 200
        assert jwks.hits == 1


def test_the_dev_server_fetches_from_loopback_over_http(api):
    group = Agents(api)
    with jwks_server() as jwks:
        jwks.keys = [jwk("rsa", kid="k1")]
        idp, _ = group.trust("dev", jwks)
        assert group.read(idp.mint()) == 200 and jwks.hits == 1


@pytest.mark.parametrize("status", [404, 503])
def test_explain_does_not_carry_the_remote_status_code(api, server, status):
    group = Agents(api)
    with jwks_server() as jwks:
        jwks.status = status
        jwks.body = b'{"error": "internal-only detail"}'
        idp, _ = group.trust(f"failing-{status}", jwks)
        token = idp.mint()
        resp = api.post("sys/authorize/explain", json={"token": token, "operation": "read", "path": "sys/policy/x"})
    assert resp.status_code == 200, resp.text
    report = resp.json()["data"]
    assert (report["allowed"], report["reason"]) == (False, "jwks_unavailable")
    text = json.dumps(report)
    assert f"HTTP {status}" not in text and "internal-only detail" not in text
    assert "see the server log" in text
    assert f"HTTP {status}" in server.log.read_text(), "the operator finds the status in the server log"
