"""The `hvac` Python client, unchanged, against the service (DECISIONS.md#d24)."""

from __future__ import annotations

import hvac
import hvac.exceptions
import pytest
import requests
from api_objects import ENTERPRISE_VERSION_RE, create_profile, jwks_profile, namespace_id, rsa_pem

HCL = 'path "agent-registry/registration/id/*" {\n  capabilities = ["read"]\n}\n'


class Recorder(requests.Session):
    """A requests session that remembers what hvac sent."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str]] = []
        self.hooks["response"].append(self._record)

    def _record(self, resp, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        self.sent.append((resp.request.method, resp.request.path_url))


@pytest.fixture
def session() -> Recorder:
    return Recorder()


@pytest.fixture
def client(api, session) -> hvac.Client:
    return hvac.Client(url=api.url, token=api.token, namespace=api.namespace, session=session)


def test_hvac_sees_an_authenticated_enterprise_server(client):
    assert client.is_authenticated()
    health = client.sys.read_health_status(method="GET")
    assert health["initialized"] is True and health["sealed"] is False
    assert ENTERPRISE_VERSION_RE.match(health["version"])
    assert client.sys.is_initialized() is True
    assert client.sys.is_sealed() is False


def test_hvac_with_a_bad_token_is_not_authenticated(api):
    assert not hvac.Client(url=api.url, token="hvs.bogus", namespace=api.namespace).is_authenticated()


def test_hvac_registers_reads_lists_updates_and_deletes_an_agent(client, session):
    entity = client.write_data("identity/entity", data={"name": "agent-entity"})["data"]["id"]
    created = client.write_data(
        "agent-registry/register",
        data={"display_name": "hvac-agent", "entity_id": entity, "ceiling_policies": ["agent-deploy"]},
    )
    reg_id = created["data"]["id"]
    record = client.read(f"agent-registry/registration/id/{reg_id}")["data"]
    assert record["ceiling_policies"] == ["agent-deploy", "default", "default-ceiling"]
    assert client.read("agent-registry/registration/display-name/hvac-agent")["data"]["id"] == reg_id
    assert client.read(f"agent-registry/registration/entity-id/{entity}")["data"]["id"] == reg_id

    listing = client.list("agent-registry/registration/id")
    assert listing["data"]["keys"] == [reg_id]
    assert listing["data"]["key_info"][reg_id]["display_name"] == "hvac-agent"
    assert client.list("agent-registry/registration/display-name")["data"]["keys"] == ["hvac-agent"]
    # hvac's generic list() is a GET with ?list=True (capitalized), not the LIST verb
    assert ("GET", "/v1/agent-registry/registration/id?list=True") in session.sent

    client.write("agent-registry/registration/id/" + reg_id, entity_id=entity, owner="team")
    assert client.read(f"agent-registry/registration/id/{reg_id}")["data"]["owner"] == "team"

    client.delete(f"agent-registry/registration/id/{reg_id}")
    assert client.read(f"agent-registry/registration/id/{reg_id}") is None
    assert client.list("agent-registry/registration/id") is None
    client.delete(f"agent-registry/registration/id/{reg_id}")  # absent: still no error (DECISIONS.md#d16)


def test_hvac_surfaces_validation_errors_as_invalid_request(client):
    entity = client.write_data("identity/entity", data={"name": "e"})["data"]["id"]
    first = client.write_data("agent-registry/register", data={"display_name": "dup", "entity_id": entity})
    other = client.write_data("identity/entity", data={"name": "e2"})["data"]["id"]
    with pytest.raises(hvac.exceptions.InvalidRequest) as raised:
        client.write_data("agent-registry/register", data={"display_name": "dup", "entity_id": other})
    assert first["data"]["id"] in str(raised.value)


def test_hvac_sees_permission_denied_as_forbidden(api, client):
    reader = hvac.Client(url=api.url, token="hvs.bogus", namespace=api.namespace)
    with pytest.raises(hvac.exceptions.Forbidden):
        reader.read("agent-registry/registration/id/x")


def test_hvac_writes_reads_lists_and_deletes_profiles(client):
    base = "sys/config/oauth-resource-server"
    response = client.write_data(
        f"{base}/static", data={"issuer_id": "https://hvac.example.com", "use_jwks": False,
                                "public_keys": [{"key_id": "k1", "pem": rsa_pem()}]},
    )  # fmt: skip
    assert response.status_code == 204
    profile = client.read(f"{base}/static")["data"]
    assert profile["issuer_id"] == "https://hvac.example.com"
    assert client.read(f"{base}/id/{profile['config_id']}")["data"] == profile
    assert client.list(base)["data"]["keys"] == ["static"]
    warned = client.write_data(f"{base}/warned", data=jwks_profile(jwks_uri="http://insecure.example.com/jwks"))
    assert "JWKS URI uses HTTP instead of HTTPS" in warned["warnings"][0]
    client.delete(f"{base}/static")
    assert client.read(f"{base}/static") is None
    client.delete(f"{base}/static")


def test_hvac_identity_helpers_manage_entities_and_oauth_aliases(api, root, client, session):
    identity = client.secrets.identity
    created = identity.create_or_update_entity(name="alice", policies=["ops"], metadata={"team": "a"})
    entity_id = created["data"]["id"]
    assert identity.read_entity(entity_id)["data"]["name"] == "alice"
    assert identity.read_entity_by_name("alice")["data"]["id"] == entity_id
    assert identity.list_entities()["data"]["keys"] == [entity_id]
    assert ("LIST", "/v1/identity/entity/id") in session.sent
    assert identity.list_entities_by_name(method="GET")["data"]["keys"] == ["alice"]

    profile = create_profile(api, "idp", **jwks_profile("https://idp.hvac.example.com"))
    accessor = f"oauth-resource-server_{namespace_id(root, api.namespace)}_{profile['config_id']}"
    alias = identity.create_or_update_entity_alias(name="user-42", canonical_id=entity_id, mount_accessor=accessor)
    alias_id = alias["data"]["id"]
    read = identity.read_entity_alias(alias_id)["data"]
    assert read["mount_accessor"] == accessor
    assert read["issuer"] == "https://idp.hvac.example.com" and read["external_id"] == "user-42"
    oauth_alias = client.write_data(
        "identity/entity-alias",
        data={
            "name": "bob",
            "canonical_id": entity_id,
            "issuer": "https://idp.hvac.example.com",
            "external_id": "b",
        },
    )
    assert client.read(f"identity/entity-alias/id/{oauth_alias['data']['id']}")["data"]["mount_accessor"] == accessor

    identity.delete_entity(entity_id)
    with pytest.raises(hvac.exceptions.InvalidPath):
        identity.read_entity_alias(alias_id)


def test_hvac_identity_helpers_manage_groups_nesting_and_group_aliases(api, root, client, session):
    identity = client.secrets.identity
    alice = identity.create_or_update_entity(name="alice")["data"]["id"]
    team = identity.create_or_update_group(name="team", policies=["ops"], member_entity_ids=[alice])["data"]["id"]
    assert identity.read_group(team)["data"]["member_entity_ids"] == [alice]
    dept = identity.create_or_update_group_by_name(name="dept", member_group_ids=[team])["data"]["id"]
    assert identity.read_group_by_name("dept")["data"]["member_group_ids"] == [team]
    identity.update_group(team, name="team", policies=["ops", "dev"], member_entity_ids=[alice])
    assert identity.read_group(team)["data"]["policies"] == ["ops", "dev"]
    assert sorted(identity.list_groups()["data"]["keys"]) == sorted([team, dept])
    assert ("LIST", "/v1/identity/group/id") in session.sent
    assert identity.list_groups_by_name(method="GET")["data"]["keys"] == ["dept", "team"]
    entity = identity.read_entity(alice)["data"]
    assert entity["direct_group_ids"] == [team] and entity["inherited_group_ids"] == [dept]
    with pytest.raises(hvac.exceptions.InvalidRequest, match="membership cycle"):
        identity.update_group(team, name="team", member_group_ids=[dept])

    profile = create_profile(api, "idp", **jwks_profile("https://idp.hvac-groups.example.com"))
    accessor = f"oauth-resource-server_{namespace_id(root, api.namespace)}_{profile['config_id']}"
    external = identity.create_or_update_group(name="idp-devs", group_type="external")["data"]["id"]
    alias = identity.create_or_update_group_alias(name="devs", mount_accessor=accessor, canonical_id=external)
    alias_id = alias["data"]["id"]
    assert identity.read_group_alias(alias_id)["data"]["canonical_id"] == external
    identity.update_group_alias(alias_id, name="developers", mount_accessor=accessor, canonical_id=external)
    assert identity.read_group(external)["data"]["alias"]["name"] == "developers"
    assert identity.list_group_aliases()["data"]["keys"] == [alias_id]
    identity.delete_group_alias(alias_id)
    with pytest.raises(hvac.exceptions.InvalidPath):
        identity.read_group_alias(alias_id)

    assert identity.lookup_group(name="dept")["data"]["id"] == dept
    assert identity.lookup_group(group_id=dept)["data"]["member_group_ids"] == [team]
    identity.delete_group_by_name("dept")
    identity.delete_group(team)
    with pytest.raises(hvac.exceptions.InvalidPath):
        identity.read_group(team)
    assert identity.read_entity(alice)["data"]["group_ids"] == []


def test_hvac_manages_acl_policies(client, session):
    client.sys.create_or_update_acl_policy(name="hvac-policy", policy=HCL)
    assert ("PUT", "/v1/sys/policies/acl/hvac-policy") in session.sent
    assert client.sys.read_acl_policy("hvac-policy")["data"]["policy"] == HCL
    keys = client.sys.list_acl_policies()["data"]["keys"]
    assert ("LIST", "/v1/sys/policies/acl") in session.sent
    assert "hvac-policy" in keys and "default-ceiling" in keys
    client.sys.create_or_update_acl_policy(name="hvac-json", policy={"path": {"x/*": {"capabilities": ["read"]}}})
    assert '"capabilities"' in client.sys.read_acl_policy("hvac-json")["data"]["policy"]
    client.sys.delete_acl_policy("hvac-policy")
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.sys.read_acl_policy("hvac-policy")
    with pytest.raises(hvac.exceptions.InvalidRequest):
        client.sys.delete_acl_policy("default")
    with pytest.raises(hvac.exceptions.InvalidRequest):
        client.sys.create_or_update_acl_policy(name="bad", policy='path "x" { capabilities = ["fly"] }')


def test_hvac_legacy_policy_helpers_work(client):
    client.sys.create_or_update_policy(name="legacy", policy=HCL)
    assert "legacy" in client.sys.list_policies()["data"]["policies"]
    assert client.sys.read_policy("legacy")["data"]["rules"] == HCL


def test_hvac_creates_tokens_and_namespaces(api, client):
    client.sys.create_or_update_acl_policy(name="reader", policy=HCL)
    token = client.auth.token.create(policies=["reader"], ttl="1h")["auth"]["client_token"]
    narrow = hvac.Client(url=api.url, token=token, namespace=api.namespace)
    assert narrow.auth.token.lookup_self()["data"]["policies"] == ["default", "reader"]
    with pytest.raises(hvac.exceptions.Forbidden):
        narrow.sys.list_acl_policies()
    created = client.sys.create_namespace(path="hvac-child")
    assert created["data"]["path"] == f"{api.namespace}/hvac-child/"
    assert client.sys.list_namespaces()["data"]["keys"] == ["hvac-child/"]
    client.sys.delete_namespace(path="hvac-child")
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.sys.list_namespaces()
