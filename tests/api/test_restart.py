"""A server killed with SIGKILL comes back with everything it had acknowledged."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_objects import child_token, create_entity, jwks_profile, put_policy, static_profile, unique

import vgtest

HCL = 'path "agent-registry/registration/id/*" { capabilities = ["read"] }'


@pytest.fixture(params=["sqlite", "postgresql"])
def dedicated(request, tmp_path) -> Iterator[vgtest.Server]:
    """A server of its own (SQLite file, or the session's PostgreSQL database in a fresh namespace)."""
    if request.param == "sqlite":
        url = "sqlite:///" + str(tmp_path / "restart.db")
    else:
        url = request.getfixturevalue("pg_database")
    srv = vgtest.Server(url, tmp_path, workers=1).start()
    try:
        yield srv
    finally:
        srv.stop()


def test_everything_survives_a_sigkill_and_restart(dedicated):
    ns = unique("restart")
    root = dedicated.client()
    assert root.post(f"sys/namespaces/{ns}", json={"custom_metadata": {"k": "v"}}).status_code == 200
    api = dedicated.client(namespace=ns)

    put_policy(api, "reader", HCL)
    entity = create_entity(api, "agent-entity", policies=["reader"])
    assert (
        api.post("sys/config/oauth-resource-server/jwks", json=jwks_profile("https://r.example.com")).status_code == 204
    )
    assert (
        api.post("sys/config/oauth-resource-server/static", json=static_profile("https://s.example.com")).status_code
        == 204
    )
    alias = api.post(
        "identity/entity-alias",
        json={
            "name": "a",
            "canonical_id": entity,
            "issuer": "https://r.example.com",
            "external_id": "user-1",
        },
    ).json()["data"]["id"]
    reg = api.post(
        "agent-registry/register",
        json={"display_name": "survivor", "entity_id": entity, "ceiling_policies": ["reader"]},
    ).json()["data"]["id"]
    token = child_token(api, ["reader"])

    paths = [
        f"agent-registry/registration/id/{reg}",
        "agent-registry/registration/display-name/survivor",
        f"identity/entity/id/{entity}",
        f"identity/entity-alias/id/{alias}",
        "sys/config/oauth-resource-server/jwks",
        "sys/config/oauth-resource-server/static",
        "sys/policies/acl/reader",
    ]
    before = {path: api.get(path).json()["data"] for path in paths}
    namespace_before = root.get(f"sys/namespaces/{ns}").json()["data"]

    dedicated.kill()
    dedicated.start()

    assert root.get("auth/token/lookup-self").json()["data"]["policies"] == ["root"]
    assert root.get(f"sys/namespaces/{ns}").json()["data"] == namespace_before
    for path, data in before.items():
        resp = api.get(path)
        assert resp.status_code == 200, (path, resp.text)
        assert resp.json()["data"] == data, path
    assert api.with_token(token).get(f"agent-registry/registration/id/{reg}").status_code == 200
    assert api.with_token(token).get("sys/policies/acl/reader").status_code == 403
    # and the restarted server keeps enforcing the uniqueness rules on the old data
    dup = api.post("agent-registry/register", json={"display_name": "survivor", "entity_id": create_entity(api)})
    assert dup.status_code == 400
    assert reg in dup.json()["errors"][0]
