"""Status, metrics and generic HTTP conventions (DECISIONS.md#d47, DECISIONS.md#d23)."""

from __future__ import annotations

import pytest
import requests
from api_objects import ENTERPRISE_VERSION_RE, PERMISSION_DENIED, child_token, errors


@pytest.mark.parametrize("path", ["sys/health", "sys/seal-status"])
def test_status_endpoints_answer_without_a_token_with_an_enterprise_version(server, path):
    resp = requests.get(f"{server.url}/v1/{path}", timeout=10)
    assert resp.status_code == 200
    body = resp.json()
    assert ENTERPRISE_VERSION_RE.match(body["version"]), body["version"]
    assert body["initialized"] is True and body["sealed"] is False


def test_init_status_says_initialized_without_a_token(server):
    resp = requests.get(f"{server.url}/v1/sys/init", timeout=10)
    assert resp.status_code == 200
    assert resp.json() == {"initialized": True}


def test_health_says_it_is_an_active_enterprise_node(server):
    body = requests.get(f"{server.url}/v1/sys/health", timeout=10).json()
    assert body["standby"] is False
    assert body["enterprise"] is True
    assert isinstance(body["server_time_utc"], int)


def test_health_answers_head(server):
    resp = requests.head(f"{server.url}/v1/sys/health", timeout=10)
    assert resp.status_code == 200


def test_seal_status_names_the_storage_engine(server):
    body = requests.get(f"{server.url}/v1/sys/seal-status", timeout=10).json()
    assert body["storage_type"] in ("sqlite", "postgresql")
    assert server.storage_url.startswith(body["storage_type"])


def test_metrics_are_prometheus_text_for_root(root):
    resp = root.get("sys/metrics", params={"format": "prometheus"})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    assert "# HELP " in resp.text and "# TYPE " in resp.text


def test_metrics_need_a_token(server):
    resp = requests.get(f"{server.url}/v1/sys/metrics", timeout=10)
    assert resp.status_code == 403
    assert resp.json() == PERMISSION_DENIED


def test_metrics_need_read_on_sys_metrics(api):
    api.post("sys/policies/acl/metrics", json={"policy": 'path "sys/metrics" { capabilities = ["read"] }'})
    allowed = api.with_token(child_token(api, ["metrics"])).get("sys/metrics")
    assert allowed.status_code == 200
    assert api.with_token(child_token(api, ["default"])).get("sys/metrics").status_code == 403


@pytest.mark.parametrize("path", ["no/such/route", "sys/no-such-endpoint", "agent-registry/nothing-here"])
def test_an_unknown_route_is_404_with_an_error(api, path):
    resp = api.get(path)
    assert resp.status_code == 404
    [message] = errors(resp)
    assert "route entry not found" in message


def test_a_path_outside_v1_is_404(server):
    assert requests.get(f"{server.url}/v2/sys/health", timeout=10).status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("OPTIONS", "agent-registry/register"),
        ("OPTIONS", "sys/policies/acl/default"),
        ("DELETE", "agent-registry/register"),
        ("PATCH", "agent-registry/registration/id/x"),
        ("DELETE", "sys/health"),
        ("PUT", "sys/seal-status"),
    ],
)
def test_an_unsupported_method_on_a_known_path_is_405(api, method, path):
    resp = api.request(method, path)
    assert resp.status_code == 405, resp.text
    assert errors(resp) == ["1 error occurred:\n\t* unsupported operation\n\n"]


def test_error_responses_are_json(api):
    resp = api.get("agent-registry/registration/id/missing")
    assert resp.headers["content-type"].startswith("application/json")


# ---- activation flags -----------------------------------------------------------------------------------------


def test_activation_flags_report_the_oauth_resource_server_active_without_a_token(server):
    resp = requests.get(f"{server.url}/v1/sys/activation-flags", timeout=10)
    assert resp.status_code == 200
    assert resp.json()["data"] == {"activated": ["oauth-resource-server"], "unactivated": []}


def test_activating_the_oauth_resource_server_succeeds_and_changes_nothing(root):
    resp = root.request("PUT", "sys/activation-flags/oauth-resource-server/activate")
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["activated"] == ["oauth-resource-server"]
    assert root.get("sys/activation-flags").json()["data"]["activated"] == ["oauth-resource-server"]


@pytest.mark.parametrize("feature", ["secrets-sync", "OAuth-Resource-Server", "oauth-resource-server%20"])
def test_activating_a_feature_the_server_does_not_have_is_refused_by_name(root, feature):
    resp = root.request("PUT", f"sys/activation-flags/{feature}/activate")
    assert resp.status_code == 400
    [message] = errors(resp)
    assert message.startswith("feature: ") and "is not an activation flag of this server" in message
    assert '"oauth-resource-server"' in message


def test_activation_is_root_namespace_only(api):
    resp = api.request("PUT", "sys/activation-flags/oauth-resource-server/activate")
    assert resp.status_code == 400
    assert errors(resp) == ["sys/activation-flags is only available in the root namespace"]


def test_activation_needs_update_on_its_path(root):
    policy = 'path "sys/activation-flags/+/activate" { capabilities = ["update"] }'
    assert root.post("sys/policies/acl/activate-flags", json={"policy": policy}).status_code in (200, 204)
    allowed = root.with_token(child_token(root, ["activate-flags"]))
    assert allowed.request("PUT", "sys/activation-flags/oauth-resource-server/activate").status_code == 200
    refused = root.with_token(child_token(root, ["default"]))
    resp = refused.request("PUT", "sys/activation-flags/oauth-resource-server/activate")
    assert resp.status_code == 403 and resp.json() == PERMISSION_DENIED
