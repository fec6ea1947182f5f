"""The decision API for resource servers that are not this service: `POST sys/authorize` over HTTP and
`DecisionService/Check` over gRPC, both answering with the code an agent's own request goes through."""

from __future__ import annotations

import time
import uuid

import agent_world
import grpc
import pytest
from agent_world import AUDIENCE, ISSUER, build, rar
from api_objects import child_token, put_policy
from google.protobuf import struct_pb2
from security import jwt_forge

import vgtest
from vaultguard.proto.decision.v1 import decision_pb2

READ_REPORTER = [rar("sys/policy/policy-reader", "read")]
READER = "sys/policy/policy-reader"
DENIED = {"errors": ["permission denied"]}


@pytest.fixture(scope="module")
def world(server):
    """One agent setup for the module: these tests only ask questions, they change nothing."""
    name = "d" + uuid.uuid4().hex[:12]
    assert server.client().post(f"sys/namespaces/{name}").status_code == 200
    return build(server.client(namespace=name))


def forged(**claims):
    """Signed by a key the profile does not trust, under the trusted key's id."""
    payload = jwt_forge.claims(int(time.time()), iss=ISSUER, aud=AUDIENCE, sub="agent-bot", **claims)
    return jwt_forge.token("rsa_attacker", head=jwt_forge.header("RS256", kid="rsa"), payload=payload)


def ask(client, token, path="sys/policy/policy-reader", operation="read", **extra):
    resp = client.post("sys/authorize", json={"token": token, "operation": operation, "path": path, **extra})
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


# -- HTTP --------------------------------------------------------------------------------------------------------------


def test_a_token_every_layer_allows_is_allowed_with_its_capabilities(world):
    data = ask(world.client, world.mint(authorization_details=READ_REPORTER))
    assert data["allowed"] is True and data["reason"] == "allowed"
    assert data["capabilities"] == ["read"]
    layers = [layer["layer"] for layer in data["decision"]["layers"]]
    assert layers == ["token", "identity", "registry", "baseline", "ceiling", "rar"]


@pytest.mark.parametrize(
    "claims,path,reason,layer",
    [
        ({"iss": "https://unknown.example"}, "sys/policy/policy-reader", "no_profile", "token"),
        ({"sub": "nobody"}, "sys/policy/policy-reader", "subject_alias_not_found", "identity"),
        ({"sub": "alice"}, "sys/policy/policy-reader", "subject_not_registered", "registry"),
        ({"authorization_details": None}, "sys/policy/policy-reader", "authorization_details_required", "rar_required"),
        # the ceiling (default-ceiling) and the RAR allow reading the agent's own registration; the baseline not
        ({"authorization_details": "OWN"}, "OWN", "baseline_no_matching_path", "baseline"),
        (
            {"authorization_details": [rar("sys/policy/agent-ceiling", "read")]},
            "sys/policy/agent-ceiling",
            "ceiling_no_matching_path",
            "ceiling",
        ),
        ({"authorization_details": [rar("sys/policy/other", "read")]}, READER, "rar_no_match", "rar"),
    ],
)
def test_each_layer_refuses_with_its_reason_in_a_200_answer(world, claims, path, reason, layer):
    own = f"agent-registry/registration/entity-id/{world.agent}"
    path = own if path == "OWN" else path
    if claims.get("authorization_details") == "OWN":
        claims = {"authorization_details": [rar(own, "read")]}
    data = ask(world.client, world.mint(**{"authorization_details": READ_REPORTER, **claims}), path)
    assert data["allowed"] is False and data["reason"] == reason
    assert data["decision"]["layer"] == layer


def test_a_forged_signature_is_refused(world):
    data = ask(world.client, forged(authorization_details=READ_REPORTER))
    assert (data["allowed"], data["reason"], data["capabilities"]) == (False, "signature_invalid", ["deny"])


def test_the_answer_is_the_same_as_the_agents_own_request(world):
    for details in (READ_REPORTER, [rar("sys/policy/other", "read")]):
        token = world.mint(authorization_details=details)
        own = world.as_agent(token).get("sys/policy/policy-reader").status_code
        assert ask(world.client, token)["allowed"] is (own == 200)


def test_parameters_reach_the_policies_and_authorization_details(world):
    token = world.mint(authorization_details=[rar("sys/policy/policy-reader", "read", required_parameters=["why"])])
    assert ask(world.client, token)["reason"] == "rar_no_match"
    assert ask(world.client, token, parameters={"why": "audit"})["allowed"] is True


def test_the_question_is_evaluated_in_the_callers_request_namespace(world, server):
    token = world.mint(authorization_details=READ_REPORTER)
    assert ask(server.client(), token)["reason"] == "no_profile"  # the profile lives in the world's namespace


def test_asking_needs_update_on_sys_authorize(world):
    put_policy(world.client, "gateway", 'path "sys/authorize" { capabilities = ["update"] }')
    put_policy(world.client, "reader", 'path "sys/authorize" { capabilities = ["read"] }')
    token = world.mint(authorization_details=READ_REPORTER)
    body = {"token": token, "operation": "read", "path": "sys/policy/policy-reader"}
    gateway = world.client.with_token(child_token(world.client, ["gateway"]))
    data = ask(gateway, token)
    assert data["allowed"] is True and "decision" not in data  # no layers for a caller who may not explain
    for caller in (world.client.with_token(child_token(world.client, ["reader"])), world.client.with_token("")):
        resp = caller.post("sys/authorize", json=body)
        assert resp.status_code == 403 and resp.json() == DENIED


def test_callers_who_may_explain_also_see_the_layers(world):
    put_policy(
        world.client,
        "operator",
        'path "sys/authorize" { capabilities = ["update"] }\n'
        'path "sys/authorize/explain" { capabilities = ["update", "sudo"] }',
    )
    operator = world.client.with_token(child_token(world.client, ["operator"]))
    data = ask(operator, world.mint(authorization_details=[rar("sys/policy/other", "read")]))
    assert data["decision"]["layer"] == "rar" and data["decision"]["layers"][-1]["reason"] == "rar_no_match"


def test_the_caller_is_authorized_before_the_input_is_judged(world):
    resp = world.client.with_token("").post("sys/authorize", json={"operation": "bogus"})
    assert resp.status_code == 403


@pytest.mark.parametrize(
    "body,field",
    [
        ({"operation": "read", "path": "sys/x"}, "token"),
        ({"token": "a.b.c", "operation": "write", "path": "sys/x"}, "operation"),
        ({"token": "a.b.c", "operation": "read"}, "path"),
        ({"token": "a.b.c", "operation": "read", "path": "sys/x", "parameters": [1]}, "parameters"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(world, body, field):
    resp = world.client.post("sys/authorize", json=body)
    assert resp.status_code == 400 and resp.json()["errors"][0].startswith(f'field "{field}"'), resp.text


def test_unknown_fields_are_ignored_with_a_warning(world):
    resp = world.client.post(
        "sys/authorize", json={"token": "a.b.c", "operation": "read", "path": "sys/x", "namespace": "x"}
    )
    assert resp.status_code == 200 and resp.json()["warnings"] == [
        "Endpoint ignored these unrecognized parameters: [namespace]"
    ]


# -- gRPC --------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def grpc_server(tmp_path_factory):
    """One more server process, started with --grpc-listen (two workers share the gRPC port)."""
    workdir = tmp_path_factory.mktemp("grpc")
    with vgtest.grpc_server("sqlite:///" + str(workdir / "vaultguard.db"), workdir) as srv:
        yield srv


@pytest.fixture(scope="module")
def grpc_world(grpc_server):
    with agent_world.grpc_world(grpc_server, "g") as world:
        yield world


def check(world, token, path="sys/policy/policy-reader", caller=None, namespace=None, **fields):
    request = decision_pb2.CheckRequest(
        token=token, operation=fields.pop("operation", "read"), path=path,
        namespace=world.namespace if namespace is None else namespace, **fields,
    )  # fmt: skip
    metadata = [] if caller == "" else [("x-vault-token", caller or world.client.token)]
    return world.stub.Check(request, metadata=metadata, timeout=10)


def test_grpc_check_allows_what_every_layer_allows(grpc_world):
    answer = check(grpc_world, grpc_world.mint(authorization_details=READ_REPORTER))
    assert (answer.allowed, answer.reason, list(answer.capabilities)) == (True, "allowed", ["read"])


def test_grpc_check_refuses_with_the_same_reasons_as_http(grpc_world):
    token = grpc_world.mint(authorization_details=[rar("sys/policy/other", "read")])
    answer = check(grpc_world, token)
    assert (answer.allowed, answer.reason) == (False, "rar_no_match")
    http = ask(grpc_world.client, token)
    assert (http["allowed"], http["reason"], http["capabilities"]) == (False, "rar_no_match", list(answer.capabilities))


def test_grpc_parameters_are_checked(grpc_world):
    details = [rar("sys/policy/policy-reader", "read", allowed_parameters={"why": ["audit"]})]
    token = grpc_world.mint(authorization_details=details)
    parameters = struct_pb2.Struct()
    parameters.update({"why": "audit"})
    assert check(grpc_world, token, parameters=parameters).allowed is True
    parameters.update({"why": "curiosity"})
    assert check(grpc_world, token, parameters=parameters).reason == "rar_no_match"


def test_grpc_evaluates_in_the_namespace_of_the_request(grpc_world):
    token = grpc_world.mint(authorization_details=READ_REPORTER)
    assert check(grpc_world, token, namespace="").reason == "no_profile"


def test_grpc_without_a_token_is_unauthenticated(grpc_world):
    with pytest.raises(grpc.RpcError) as err:
        check(grpc_world, grpc_world.mint(), caller="")
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_grpc_callers_need_update_on_sys_authorize(grpc_world):
    put_policy(grpc_world.client, "gateway", 'path "sys/authorize" { capabilities = ["update"] }')
    put_policy(grpc_world.client, "bystander", 'path "sys/policy/*" { capabilities = ["read"] }')
    token = grpc_world.mint(authorization_details=READ_REPORTER)
    assert check(grpc_world, token, caller=child_token(grpc_world.client, ["gateway"])).allowed is True
    for caller in (child_token(grpc_world.client, ["bystander"]), "hvs.unknown-token"):
        with pytest.raises(grpc.RpcError) as err:
            check(grpc_world, token, caller=caller)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:  # an unknown namespace answers like a bad token
        check(grpc_world, token, namespace="no-such-namespace")
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_grpc_bad_input_is_invalid_argument_naming_the_field(grpc_world):
    with pytest.raises(grpc.RpcError) as err:
        check(grpc_world, grpc_world.mint(), operation="write")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith('field "operation"')
