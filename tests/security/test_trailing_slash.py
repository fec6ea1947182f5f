"""A trailing "/" that no route takes is served by the route without it, in the request's namespace, with the
ACL checked on the path the route acts on. Never a redirect: the router's redirect pointed at a URL without the
namespace prefix, so a client following it acted in another namespace."""

from __future__ import annotations

import pytest
import requests
from api.api_objects import child_token, create_entity, put_policy


def send(api, method: str, path: str, token: str | None = None, **kw):  # noqa: ANN001, ANN201
    """`path` under the namespace's path prefix (`/v1/<ns>/...`), redirects not followed."""
    headers = {"X-Vault-Token": token or api.token}
    url = f"{api.url}/v1/{api.namespace}/{path}"
    return requests.request(method, url, headers=headers, allow_redirects=False, timeout=30, **kw)


@pytest.mark.parametrize("suffix", ["/", "//"])
def test_a_trailing_slash_reads_the_object_in_the_namespace_of_the_prefix(api, suffix):
    entity = create_entity(api, "slash-entity")
    resp = send(api, "GET", f"identity/entity/id/{entity}{suffix}")
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["name"] == "slash-entity"


def test_a_trailing_slash_writes_in_the_namespace_of_the_prefix(api, server):
    entity = create_entity(api, "slash-writer")
    resp = send(api, "POST", f"identity/entity/id/{entity}/", json={"metadata": {"team": "blue"}})
    assert resp.status_code in (200, 204), resp.text
    assert api.get(f"identity/entity/id/{entity}").json()["data"]["metadata"] == {"team": "blue"}
    assert server.client().get(f"identity/entity/id/{entity}").status_code == 404, "nothing in the root namespace"


def test_a_deny_on_the_path_holds_for_its_trailing_slash_form(api):
    entity = create_entity(api, "slash-denied")
    put_policy(api, "reader", f"""
path "identity/entity/id/*" {{ capabilities = ["read"] }}
path "identity/entity/id/{entity}" {{ capabilities = ["deny"] }}
""")
    token = child_token(api, ["reader"])
    for path in (f"identity/entity/id/{entity}", f"identity/entity/id/{entity}/"):
        assert send(api, "GET", path, token).status_code == 403


def test_a_path_no_route_takes_is_404_with_or_without_the_slash(api):
    for path in ("identity/no-such-thing", "identity/no-such-thing/"):
        resp = send(api, "GET", path)
        assert resp.status_code == 404 and "location" not in resp.headers


def test_list_paths_keep_their_slash(api):
    create_entity(api, "slash-listed")
    resp = send(api, "LIST", "identity/entity/name/")
    assert resp.status_code == 200 and "slash-listed" in resp.json()["data"]["keys"]
