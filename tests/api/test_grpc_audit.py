"""The decision API is audited whatever its transport: a gRPC `Check` against a real server leaves, in the file
audit device, the request and response entries of its caller (the admin token's decision, a limited-use token's
consumption) and an evaluation entry for the agent token it asked about (an agent decision with its reason
code), exactly as `POST sys/authorize` does. On both storage engines."""

from __future__ import annotations

import json
import time

import grpc
import pytest
from agent_world import AUDIENCE, ISSUER, grpc_world, rar
from api_objects import child_token, put_policy
from security import jwt_forge
from test_audit import AuditLog, audit_hash

import vgtest
from vaultguard.proto.decision.v1 import decision_pb2, decision_pb2_grpc

READ_REPORTER = [rar("sys/policy/policy-reader", "read")]
GATEWAY = 'path "sys/authorize" { capabilities = ["update"] }'


@pytest.fixture(scope="module")
def served(backend_url: str, tmp_path_factory: pytest.TempPathFactory):
    """A server with a gRPC listener and a file audit device, one per storage engine."""
    workdir = tmp_path_factory.mktemp("grpc-audit")
    with vgtest.grpc_server(backend_url, workdir, audit_log=workdir / "audit.log") as srv:
        yield srv


@pytest.fixture(scope="module")
def world(served):
    with grpc_world(served, "ga") as world:
        put_policy(world.client, "gateway", GATEWAY)
        put_policy(world.client, "bystander", 'path "sys/policy/*" { capabilities = ["read"] }')
        world.log = AuditLog(served.audit_log)
        yield world


def check(world, token: str, metadata: list[tuple[str, str]], path: str = "sys/policy/policy-reader"):
    request = decision_pb2.CheckRequest(token=token, operation="read", path=path, namespace=world.namespace)
    return world.stub.Check(request, metadata=metadata, timeout=10)


def refused(world, token: str, metadata: list[tuple[str, str]]) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as err:
        check(world, token, metadata)
    return err.value.code()


def last_call(log: AuditLog) -> list[dict]:
    """Every entry of the last gRPC call, in the order written."""
    entries = log.entries()
    ids = [e["request"]["id"] for e in entries if e["request"].get("transport") == "grpc"]
    assert ids, "no gRPC entry in the audit log"
    return [e for e in entries if e["request"]["id"] == ids[-1]]


def wait_for(log: AuditLog, count: int) -> list[dict]:
    """The last call's entries once `count` are written (the answer leaves after its response entry, so at once)."""
    for _ in range(50):
        call = last_call(log)
        if len(call) >= count:
            return call
        time.sleep(0.05)
    return last_call(log)


def test_an_allowed_check_leaves_the_callers_entries_and_the_agents_decision(world):
    caller = child_token(world.client, ["gateway"])
    agent_token = world.mint(authorization_details=READ_REPORTER)
    assert check(world, agent_token, [("x-vault-token", caller)]).allowed is True

    request, evaluation, response = wait_for(world.log, 3)
    assert [e["type"] for e in (request, evaluation, response)] == ["request", "evaluation", "response"]
    for entry in (request, response):
        block = entry["request"]
        assert (block["path"], block["operation"], block["transport"]) == ("sys/authorize", "update", "grpc")
        assert block["namespace"]["path"] == world.namespace + "/" and block["remote_address"] == "127.0.0.1"
        assert entry["auth"]["client_token"] == audit_hash(world.client, caller)
        assert "gateway" in entry["auth"]["policies"]
        assert entry["auth"]["policy_results"]["granting_policies"][0]["name"] == "gateway"
        assert block["data"]["token"] == audit_hash(world.client, agent_token)
    assert request["auth"]["metadata"]["decision"] == "allow"
    assert response["response"]["status_code"] == 200 and response["response"]["grpc_status"] == "OK"
    assert response["response"]["data"]["allowed"] is True

    metadata = evaluation["auth"]["metadata"]
    assert (metadata["decision"], metadata["reason"], metadata["agent_registration_id"]) == (
        "allow", "allowed", world.registration
    )  # fmt: skip
    assert metadata["jwt_issuer"] == ISSUER and AUDIENCE in metadata["jwt_audience_claim"]
    assert evaluation["auth"]["client_token"] == audit_hash(world.client, agent_token)
    asked = evaluation["request"]
    assert (asked["path"], asked["operation"]) == ("sys/policy/policy-reader", "read")
    assert asked["asked_by"] == "sys/authorize"
    assert evaluation["error"] == ""
    text = world.log.text()
    assert agent_token not in text and caller not in text


def test_a_refused_agent_token_is_audited_with_its_layer_and_reason_code(world):
    caller = child_token(world.client, ["gateway"])
    agent_token = world.mint(authorization_details=[rar("sys/policy/other", "read")])
    assert check(world, agent_token, [("x-vault-token", caller)]).reason == "rar_no_match"
    _request, evaluation, response = wait_for(world.log, 3)
    metadata = evaluation["auth"]["metadata"]
    assert (metadata["decision"], metadata["reason"], metadata["layer"]) == ("deny", "rar_no_match", "rar")
    assert "RAR_NO_MATCH" in evaluation["error"]
    assert response["response"]["grpc_status"] == "OK"  # a refusal is an answer, not an error

    forged = jwt_forge.token(
        "rsa_attacker",
        head=jwt_forge.header("RS256", kid="rsa"),
        payload=jwt_forge.claims(int(time.time()), iss=ISSUER, aud=AUDIENCE, sub="agent-bot"),
    )
    assert check(world, forged, [("x-vault-token", caller)]).reason == "signature_invalid"
    evaluation = wait_for(world.log, 3)[1]
    assert (evaluation["type"], evaluation["auth"]["metadata"]["reason"]) == ("evaluation", "signature_invalid")
    assert "jwt_issuer" not in evaluation["auth"]["metadata"], "claims of an unverified token are not trusted"


def test_a_limited_use_caller_is_audited_with_each_use_it_consumes(world):
    caller = child_token(world.client, ["gateway"], num_uses=2)
    agent_token = world.mint(authorization_details=READ_REPORTER)
    for remaining in (1, 0):
        assert check(world, agent_token, [("x-vault-token", caller)]).allowed is True
        request = wait_for(world.log, 3)[0]
        assert request["auth"]["remaining_uses"] == remaining
    assert refused(world, agent_token, [("x-vault-token", caller)]) == grpc.StatusCode.PERMISSION_DENIED
    request, response = wait_for(world.log, 2)
    assert request["auth"]["metadata"]["reason"] == "token_unknown"
    assert response["response"]["grpc_status"] == "PERMISSION_DENIED"


@pytest.mark.parametrize(
    "metadata,code,reason",
    [
        ([], grpc.StatusCode.UNAUTHENTICATED, "token_missing"),
        ([("x-vault-token", "hvs.unknown")], grpc.StatusCode.PERMISSION_DENIED, "token_unknown"),
        ("BYSTANDER", grpc.StatusCode.PERMISSION_DENIED, "no_matching_path"),
        ("CONFLICT", grpc.StatusCode.INVALID_ARGUMENT, "conflicting_tokens"),
    ],
    ids=["missing", "unknown", "acl", "conflicting"],
)
def test_a_refused_caller_is_audited_with_the_reason_and_nothing_is_evaluated(world, metadata, code, reason):
    if metadata == "BYSTANDER":
        metadata = [("x-vault-token", child_token(world.client, ["bystander"]))]
    elif metadata == "CONFLICT":
        metadata = [("x-vault-token", child_token(world.client, ["gateway"])), ("authorization", "Bearer other")]
    assert refused(world, world.mint(authorization_details=READ_REPORTER), metadata) == code
    call = wait_for(world.log, 2)
    assert [e["type"] for e in call] == ["request", "response"], "no evaluation for a caller refused"
    request, response = call
    assert request["auth"]["metadata"]["decision"] == "deny"
    assert request["auth"]["metadata"]["reason"] == reason
    assert response["response"]["grpc_status"] == code.name
    assert json.dumps(response).count("hmac-sha256:") >= 1


def test_http_sys_authorize_writes_the_same_evaluation_entry(world):
    agent_token = world.mint(authorization_details=READ_REPORTER)
    resp = world.client.post("sys/authorize", json={"token": agent_token, "operation": "read",
                                                    "path": "sys/policy/policy-reader"})  # fmt: skip
    assert resp.status_code == 200 and resp.json()["data"]["allowed"] is True
    entries = world.log.entries()
    evaluation = [e for e in entries if e["type"] == "evaluation"][-1]
    ids = [e["request"]["id"] for e in entries if e["request"]["id"] == evaluation["request"]["id"]]
    assert len(ids) == 3 and "transport" not in evaluation["request"]
    assert evaluation["auth"]["metadata"]["reason"] == "allowed"
    assert evaluation["auth"]["client_token"] == audit_hash(world.client, agent_token)


def test_an_oversized_caller_token_is_refused_and_audited_as_such(world):
    huge = "hvs." + "x" * 9000  # over the default max_token_header_size (8192)
    code = refused(world, world.mint(authorization_details=READ_REPORTER), [("x-vault-token", huge)])
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    request, _response = wait_for(world.log, 2)
    assert request["auth"]["metadata"]["reason"] == "too_large"


def test_a_check_that_cannot_be_audited_is_not_answered(backend_url, tmp_path):
    audit_dir = tmp_path / "audit"
    audit_dir.mkdir()
    with vgtest.grpc_server(backend_url, tmp_path, audit_log=audit_dir / "audit.log") as srv:
        put_policy(srv.client(), "gateway", GATEWAY)
        caller = child_token(srv.client(), ["gateway"], num_uses=5)
        with grpc.insecure_channel(srv.grpc_address) as channel:
            stub = decision_pb2_grpc.DecisionServiceStub(channel)
            request = decision_pb2.CheckRequest(token="a.b.c", operation="read", path="sys/policy/x")
            assert stub.Check(request, metadata=[("x-vault-token", caller)], timeout=10).reason
            # A directory replaced by a file: no device can write (ENOTDIR).
            for entry in audit_dir.iterdir():
                entry.unlink()
            audit_dir.rmdir()
            audit_dir.write_text("not a directory")
            with pytest.raises(grpc.RpcError) as err:
                stub.Check(request, metadata=[("x-vault-token", caller)], timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert err.value.details() == "audit logging failed; the request was not served"
