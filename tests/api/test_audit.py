"""Audit devices on a real server: every request leaves a request and a response line (DECISIONS.md#d21), tokens only as
HMAC, the precise reason of every refusal, and no answer at all when no device can write."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from agent_world import AUDIENCE, ISSUER, build, rar
from api_objects import put_policy

import vgtest

READ_REPORTER = [rar("sys/policy/policy-reader", "read")]
DENIED = {"errors": ["permission denied"]}
NOT_SERVED = {"errors": ["audit logging failed; the request was not served"]}
HMAC = "hmac-sha256:"
AGENT_KEYS = {
    "jwt_unique_id", "jwt_issuer", "jwt_transaction_claim", "jwt_audience_claim", "jwt_authorization_details",
    "actor_entity_id", "actor_entity_name", "agent_registration_id", "agent_display_name", "decision", "reason",
}  # fmt: skip


class AuditLog:
    """The JSON lines a file device wrote."""

    def __init__(self, path: Path):
        self.path = path

    def text(self) -> str:
        return self.path.read_text() if self.path.exists() else ""

    def entries(self) -> list[dict]:
        return [json.loads(line) for line in self.text().splitlines()]

    def for_path(self, path: str, namespace: str = "") -> list[dict]:
        """Entries of requests to `path` (namespace-relative) in `namespace`."""
        ns_path = namespace + "/" if namespace else ""
        return [
            e for e in self.entries() if e["request"]["path"] == path and e["request"]["namespace"]["path"] == ns_path
        ]

    def pair(self, path: str, namespace: str = "") -> tuple[dict, dict]:
        """The last request's (request entry, response entry)."""
        entries = self.for_path(path, namespace)
        assert len(entries) >= 2, entries
        request, response = entries[-2], entries[-1]
        assert (request["type"], response["type"]) == ("request", "response")
        assert request["request"]["id"] == response["request"]["id"]
        return request, response


def audit_hash(client: vgtest.Client, value: str, device: str = "file") -> str:
    resp = client.post(f"sys/audit-hash/{device}", json={"input": value})
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]["hash"]


# --- a server with a file audit device, one per storage backend ----------------------------------------------------


@pytest.fixture(scope="module")
def audited(backend_url: str, tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("audited")
    srv = vgtest.Server(backend_url, workdir, workers=2, audit_log=workdir / "audit.log").start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def log(audited) -> AuditLog:
    return AuditLog(audited.audit_log)


@pytest.fixture
def ns(audited) -> str:
    name = "a" + uuid.uuid4().hex[:12]
    assert audited.client().post(f"sys/namespaces/{name}").status_code == 200
    return name


@pytest.fixture
def api(audited, ns) -> vgtest.Client:
    return audited.client(namespace=ns)


@pytest.fixture
def world(api):
    return build(api)


# --- admin requests ---------------------------------------------------------------------------------------------------


def test_an_admin_write_leaves_a_request_and_a_response_line_with_the_token_only_as_hmac(audited, api, ns, log):
    put_policy(api, "audited", 'path "secret/*" { capabilities = ["read"] }')
    request, response = log.pair("sys/policies/acl/audited", ns)
    token_hash = audit_hash(audited.client(), audited.root_token)
    for entry in (request, response):
        assert entry["auth"]["client_token"] == token_hash
        assert entry["request"]["client_token"] == token_hash
        assert entry["auth"]["accessor"].startswith(HMAC)
        assert entry["auth"]["policies"] == ["root"] and entry["auth"]["token_type"] == "service"
        assert entry["auth"]["metadata"] == {"decision": "allow", "reason": "root"}
        assert entry["auth"]["policy_results"]["allowed"] is True
        assert entry["request"]["operation"] == "create"
        assert entry["request"]["namespace"]["path"] == ns + "/"
        assert entry["request"]["data"]["policy"].startswith(HMAC), "request data values are HMAC'd"
        assert entry["request"]["remote_address"] == "127.0.0.1"
    assert response["response"]["status_code"] == 204 and response["error"] == ""
    assert request["time"] <= response["time"]
    assert audited.root_token not in log.text()
    assert 'path \\"secret/*\\"' not in log.text()


def test_the_response_envelope_and_the_audit_entries_share_one_request_id(audited, api, ns, log):
    resp = api.post("identity/entity", json={"name": "correlated"})
    assert resp.status_code == 200
    request, response = log.pair("identity/entity", ns)
    assert resp.json()["request_id"] == request["request"]["id"] == response["request"]["id"]


def test_a_limited_admin_token_shows_the_policy_that_granted_and_the_reason_it_was_refused(api, ns, log):
    put_policy(api, "reader", 'path "sys/policies/acl/reader" { capabilities = ["read"] }')
    resp = api.post("auth/token/create", json={"policies": ["reader"], "meta": {"team": "a", "decision": "allow"}})
    assert resp.status_code == 200, resp.text
    token = resp.json()["auth"]["client_token"]
    _, created = log.pair("auth/token/create", ns)
    assert created["response"]["auth"]["client_token"] == audit_hash(api, token)
    assert token not in log.text()

    limited = api.with_token(token)
    assert limited.get("sys/policies/acl/reader").status_code == 200
    request, response = log.pair("sys/policies/acl/reader", ns)
    assert request["auth"]["policy_results"] == {
        "allowed": True,
        "granting_policies": [{"name": "reader", "namespace_id": request["request"]["namespace"]["id"],
                               "namespace_path": ns + "/", "type": "acl"}],
    }  # fmt: skip
    assert request["auth"]["metadata"] == {"team": "a", "decision": "allow", "reason": "allowed"}
    assert response["response"]["data"]["name"] == audit_hash(api, "reader"), "response data values are HMAC'd"

    assert limited.get("sys/policies/acl/default").json() == DENIED
    request, response = log.pair("sys/policies/acl/default", ns)
    for entry in (request, response):
        assert entry["auth"]["metadata"]["decision"] == "deny"
        assert entry["auth"]["metadata"]["reason"] == "no_matching_path"
        assert entry["auth"]["metadata"]["team"] == "a", "the token's own metadata is kept"
        assert entry["auth"]["policy_results"] == {"allowed": False, "granting_policies": []}
        assert entry["error"] == "permission denied"
    assert response["response"]["status_code"] == 403


def test_a_refusal_by_the_route_beyond_the_authorization_check_is_audited_as_a_deny(ns, log, world):
    # sys/authorize/explain is for operators only: the route refuses any agent itself, without a Decision.
    token = world.mint(authorization_details=[rar("sys/authorize/explain", "update")])
    resp = world.as_agent(token).post("sys/authorize/explain", json={"token": "x", "operation": "read", "path": "a"})
    if resp.status_code == 404:
        pytest.skip("no sys/authorize/explain route in this build")
    assert resp.json() == DENIED
    request, response = log.pair("sys/authorize/explain", ns)
    for entry in (request, response):
        meta = entry["auth"]["metadata"]
        assert (meta["decision"], meta["reason"]) == ("deny", "route_refused")
        assert meta["agent_registration_id"] == world.registration
        assert entry["auth"]["policy_results"]["allowed"] is False and entry["error"] == "permission denied"


@pytest.mark.parametrize(
    "case,reason",
    [
        ("no token", "token_missing"),
        ("unknown token", "token_unknown"),
        ("expired token", "token_expired"),
        ("token from another namespace", "token_namespace_mismatch"),
        ("namespace that does not exist", "namespace_not_found"),
    ],
)
def test_a_refused_admin_token_is_audited_with_the_precise_reason(audited, api, ns, log, case, reason):
    client, namespace = api, ns
    if case == "no token":
        client = api.with_token("")
    elif case == "unknown token":
        client = api.with_token("hvs.not-a-token-" + uuid.uuid4().hex)
    elif case == "expired token":
        resp = api.post("auth/token/create", json={"policies": ["default"], "ttl": "1s"})
        client = api.with_token(resp.json()["auth"]["client_token"])
        time.sleep(1.2)
    elif case == "token from another namespace":
        other = "o" + uuid.uuid4().hex[:12]
        audited.client().post(f"sys/namespaces/{other}")
        resp = audited.client(namespace=other).post("auth/token/create", json={"policies": ["default"]})
        client = api.with_token(resp.json()["auth"]["client_token"])
    else:
        namespace = ns + "/missing"
        client = vgtest.Client(audited.url, audited.root_token, namespace)
    assert client.get("sys/policies/acl/default").json() == DENIED
    request, response = log.pair("sys/policies/acl/default", namespace)
    for entry in (request, response):
        assert entry["auth"]["metadata"]["decision"] == "deny"
        assert entry["auth"]["metadata"]["reason"] == reason
        assert entry["auth"]["policy_results"]["allowed"] is False
        assert entry["error"] == "permission denied"
        if client.token:
            assert entry["auth"]["client_token"] == audit_hash(audited.client(), client.token)
    assert response["response"]["status_code"] == 403


def test_requests_without_a_token_are_audited_too(audited, log):
    assert requests.get(audited.url + "/v1/sys/health", timeout=10).status_code == 200
    request, response = log.pair("sys/health")
    assert request["auth"] == {"client_token": ""} and request["request"]["operation"] == "read"
    assert response["response"] == {"status_code": 200}


def test_a_request_the_path_rules_refuse_is_audited(audited, log):
    resp = requests.get(audited.url + "/v1/sys/policy/%2e%2e/x", timeout=10)
    assert resp.status_code == 400
    entries = [e for e in log.entries() if e["request"]["path"] == "sys/policy/../x"]
    assert [e["type"] for e in entries[-2:]] == ["request", "response"]
    assert entries[-1]["response"]["status_code"] == 400 and "'..'" in entries[-1]["error"]


def test_audit_hash_needs_a_known_device_and_an_authorized_token(audited, api):
    assert api.post("sys/audit-hash/nope", json={"input": "x"}).status_code == 400
    assert api.with_token("").post("sys/audit-hash/file", json={"input": "x"}).json() == DENIED
    first, second = audit_hash(audited.client(), "x"), audit_hash(api, "x")
    assert first == second and first.startswith(HMAC) and len(first) == len(HMAC) + 64


# --- agent requests ---------------------------------------------------------------------------------------------------


def test_an_allowed_delegated_agent_request_carries_every_metadata_key(api, ns, log, world):
    token = world.mint(sub="alice", act={"sub": "agent-bot"}, txn="txn-42", authorization_details=READ_REPORTER)
    assert world.as_agent(token).get("sys/policy/policy-reader").status_code == 200
    request, response = log.pair("sys/policy/policy-reader", ns)
    for entry in (request, response):
        auth = entry["auth"]
        meta = auth["metadata"]
        assert AGENT_KEYS <= set(meta), AGENT_KEYS - set(meta)
        assert meta["jwt_issuer"] == ISSUER and meta["jwt_audience_claim"] == [AUDIENCE]
        assert meta["jwt_transaction_claim"] == "txn-42"
        assert meta["jwt_authorization_details"] == READ_REPORTER
        assert meta["actor_entity_id"] == world.agent and meta["actor_entity_name"] == "report-bot"
        assert meta["agent_registration_id"] == world.registration and meta["agent_display_name"] == "report-bot"
        assert (meta["decision"], meta["reason"]) == ("allow", "allowed")
        layers = {layer["layer"]: layer for layer in meta["layers"]}
        assert layers["baseline"]["policies"] == ["policy-reader"]
        assert layers["ceiling"]["policies"] == ["agent-ceiling"]
        assert auth["display_name"] == "JWT Token with Unique Identifier: " + meta["jwt_unique_id"]
        assert auth["entity_id"] == world.human, "the subject"
        assert auth["client_token"] == audit_hash(api, token) == entry["request"]["client_token"]
        assert {p["name"] for p in auth["policy_results"]["granting_policies"]} == {"policy-reader", "agent-ceiling"}
        assert auth["policy_results"]["allowed"] is True
    assert response["response"]["status_code"] == 200
    assert token not in log.text()


def test_a_direct_agent_request_has_no_actor_keys(ns, log, world):
    assert world.as_agent(world.mint(authorization_details=READ_REPORTER)).get("sys/policy/policy-reader").ok
    _, response = log.pair("sys/policy/policy-reader", ns)
    meta = response["auth"]["metadata"]
    assert "actor_entity_id" not in meta and "actor_entity_name" not in meta
    assert response["auth"]["entity_id"] == world.agent


def test_each_request_of_an_agent_is_described_by_its_own_token_and_decision(api, ns, log, world):
    """The audit log reuses what it derived from a token and a decision; a repeated request must still get
    the same block, and a second token of the same agent (which shares the resolved agent) and another
    decision of the first token must get their own. One connection, so one worker, serves them all."""
    first, second = (world.mint(authorization_details=READ_REPORTER) for _ in range(2))
    agent = world.as_agent(first)
    allowed, other = "sys/policy/policy-reader", "sys/policy/agent-ceiling"
    answers = [agent.get(allowed), agent.get(allowed), agent.get(allowed, headers={"X-Vault-Token": second})]
    answers.append(agent.get(other))
    answers.append(agent.get(allowed))
    assert [r.status_code for r in answers] == [200, 200, 200, 403, 200]
    entries = log.for_path(allowed, ns)[-8:]
    auths = [entry["auth"] for entry in entries]
    assert auths[0] == auths[1] == auths[2] == auths[3] == auths[6] == auths[7], "the same token and decision"
    assert auths[4] == auths[5] != auths[0]
    assert (auths[0]["client_token"], auths[4]["client_token"]) == (audit_hash(api, first), audit_hash(api, second))
    unique_ids = [auth["metadata"]["jwt_unique_id"] for auth in (auths[0], auths[4])]
    assert unique_ids[0] != unique_ids[1]
    assert auths[4]["display_name"].endswith(unique_ids[1])
    _, refused = log.pair(other, ns)
    assert refused["auth"]["client_token"] == auths[0]["client_token"]
    meta = refused["auth"]["metadata"]
    assert (meta["decision"], meta["layer"]) == ("deny", "ceiling")
    assert refused["auth"]["policy_results"] == {"allowed": False, "granting_policies": []}


@pytest.mark.parametrize(
    "case,layer,reason",
    [
        ("rar names another path", "rar", "rar_no_match"),
        ("ceiling lacks the path", "ceiling", "ceiling_"),
        ("baseline lacks the path", "baseline", "baseline_"),
        ("no authorization_details", "rar_required", "authorization_details_required"),
        ("expired", "token", "expired"),
        ("unknown issuer", "token", "no_profile"),
        ("unknown subject", "identity", "subject_alias_not_found"),
        ("unregistered subject", "registry", "subject_not_registered"),
    ],
)
def test_a_refused_agent_request_is_audited_with_its_layer_and_reason(api, ns, log, world, case, layer, reason):
    path, claims = "sys/policy/policy-reader", {"authorization_details": READ_REPORTER}
    now = int(time.time())
    if case == "rar names another path":
        claims["authorization_details"] = [rar("sys/policy/other", "read")]
    elif case == "ceiling lacks the path":
        path = "sys/policy/agent-ceiling"
        claims["authorization_details"] = [rar(path, "read")]
    elif case == "baseline lacks the path":
        put_policy(api, "agent-ceiling", 'path "sys/*" { capabilities = ["read"] }')
        path = "sys/policies/acl/agent-ceiling"
        claims["authorization_details"] = [rar(path, "read")]
    elif case == "no authorization_details":
        claims["authorization_details"] = None
    elif case == "expired":
        claims.update(exp=now - 3600, iat=now - 7200)
    elif case == "unknown issuer":
        claims["iss"] = "https://unknown-issuer.example"
    elif case == "unknown subject":
        claims["sub"] = "nobody"
    else:
        claims["sub"] = "alice"
    token = world.mint(**claims)
    resp = world.as_agent(token).get(path)
    assert resp.status_code == 403
    request, response = log.pair(path, ns)
    for entry in (request, response):
        meta = entry["auth"]["metadata"]
        assert meta["decision"] == "deny" and meta["layer"] == layer
        assert meta["reason"].startswith(reason) if reason.endswith("_") else meta["reason"] == reason
        assert entry["auth"]["policy_results"] == {"allowed": False, "granting_policies": []}
        assert entry["error"] == "; ".join(resp.json()["errors"]), "the error the caller saw"
        assert entry["auth"]["client_token"] == audit_hash(api, token)
        if layer in ("identity", "registry") or reason == "expired":  # claims signed by the issuer are named
            assert meta["jwt_issuer"] == ISSUER and meta["jwt_unique_id"]
        if reason == "no_profile":  # nothing unverified is repeated as if it were true
            assert "jwt_issuer" not in meta
        if layer in ("baseline", "ceiling", "rar"):
            assert AGENT_KEYS - {"actor_entity_id", "actor_entity_name", "jwt_transaction_claim"} <= set(meta)
            assert any(not step["allowed"] and step["layer"] == layer for step in meta["layers"])
    assert token not in log.text()


# --- the log as a whole -----------------------------------------------------------------------------------------------


def test_concurrent_requests_from_several_workers_leave_whole_paired_lines(audited, api, log):
    def call(i: int) -> int:
        client = api if i % 2 else api.with_token("hvs.bogus")
        return client.get("sys/policies/acl/default").status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(call, range(200)))
    assert sorted(set(codes)) == [200, 403]
    by_id: dict[str, list[str]] = {}
    for entry in log.entries():  # every line parses: no line was interleaved with another
        by_id.setdefault(entry["request"]["id"], []).append(entry["type"])
    unpaired = {k: v for k, v in by_id.items() if v != ["request", "response"]}
    assert not unpaired


# --- the failure rule -------------------------------------------------------------------------------------------------


def test_when_the_only_device_cannot_write_nothing_is_served(backend_url, tmp_path):
    audit_dir = tmp_path / "audit"
    audit_dir.mkdir()
    srv = vgtest.Server(backend_url, tmp_path, audit_log=audit_dir / "audit.log").start()
    try:
        name = "f" + uuid.uuid4().hex[:12]
        root = srv.client()
        assert root.post(f"sys/namespaces/{name}").status_code == 200
        api = srv.client(namespace=name)
        # A directory replaced by a file: even root cannot create the log below it (ENOTDIR).
        shutil.rmtree(audit_dir)
        audit_dir.write_text("not a directory")
        resp = api.post("sys/policies/acl/unaudited", json={"policy": 'path "x" { capabilities = ["read"] }'})
        assert (resp.status_code, resp.json()) == (503, NOT_SERVED)
        resp = requests.get(srv.url + "/v1/sys/health", timeout=10)
        assert (resp.status_code, resp.json()) == (503, NOT_SERVED)
        assert api.with_token("hvs.bogus").get("sys/policies/acl/default").status_code == 503
        audit_dir.unlink()
        audit_dir.mkdir()
        resp = api.get("sys/policies/acl/unaudited")
        assert resp.status_code == 404, "the refused write never happened"
        assert [e["type"] for e in AuditLog(audit_dir / "audit.log").entries()] == ["request", "response"]
    finally:
        srv.stop()


def test_a_server_does_not_start_with_an_audit_log_it_cannot_open(tmp_path):
    result = subprocess.run(
        [vgtest.VAULTGUARD, "server", "--dev", "--listen", f"127.0.0.1:{vgtest.free_port()}",
         "--storage", f"sqlite:///{tmp_path / 'x.db'}", "--audit-log", str(tmp_path / "missing" / "audit.log")],
        capture_output=True, text=True, timeout=60, env={"VAULTGUARD_DATA_DIR": str(tmp_path), "PATH": "/usr/bin"},
    )  # fmt: skip
    assert result.returncode == 2
    assert "audit" in result.stderr and "does not exist" in result.stderr


def test_a_config_file_server_logs_to_stdout_and_one_working_device_suffices(backend_url, tmp_path):
    token_file = tmp_path / "root-token"
    token_file.write_text("hvs.audit-config-root-token\n")
    audit_dir = tmp_path / "audit"
    audit_dir.mkdir()
    config = tmp_path / "server.hcl"
    config.write_text(
        f"""
        listener "tcp" {{ address = "127.0.0.1:1" }}
        storage "sql" {{ url = "{backend_url}" }}
        initial_root_token_file = "{token_file}"
        audit "file" {{
          path = "{audit_dir / "audit.log"}"
          mode = "0640"
        }}
        audit "stdout" {{}}
        """
    )
    srv = vgtest.Server("", tmp_path, config_file=config, root_token="hvs.audit-config-root-token").start()
    try:
        root = srv.client()
        assert (audit_dir / "audit.log").stat().st_mode & 0o777 == 0o640
        assert root.get("sys/policies/acl/default").status_code == 200
        shutil.rmtree(audit_dir)
        audit_dir.write_text("not a directory")
        assert root.get("sys/policies/acl/default-ceiling").status_code == 200, "stdout still takes the entries"
        assert audit_hash(root, "x", device="stdout") == audit_hash(root, "x", device="file")
    finally:
        srv.stop()
    lines = [json.loads(line) for line in srv.log.read_text().splitlines() if line.startswith('{"time"')]
    paths = [(e["type"], e["request"]["path"]) for e in lines]
    for path in ("sys/policies/acl/default", "sys/policies/acl/default-ceiling"):
        assert ("request", path) in paths and ("response", path) in paths
    assert "hvs.audit-config-root-token" not in srv.log.read_text()
