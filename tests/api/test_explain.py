"""`sys/authorize/explain` and `vaultguard explain`: every step of one agent request, for operators only."""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import pytest
from agent_world import AUDIENCE, ISSUER, build, rar
from api_objects import child_token, put_policy
from security import jwt_forge

import vgtest

READ_REPORTER = [rar("sys/policy/policy-reader", "read")]
DENIED = {"errors": ["permission denied"]}


@pytest.fixture(scope="module")
def world(server):
    name = "x" + uuid.uuid4().hex[:12]
    assert server.client().post(f"sys/namespaces/{name}").status_code == 200
    return build(server.client(namespace=name))


def explain(client, token, path="sys/policy/policy-reader", operation="read", **extra):
    resp = client.post("sys/authorize/explain", json={"token": token, "operation": operation, "path": path, **extra})
    assert resp.status_code == 200, resp.text
    assert token.split(".")[2] not in resp.text  # the token (its signature) is never echoed
    report = resp.json()["data"]
    report["by_layer"] = {step["layer"]: step for step in report["steps"]}
    return report


def checks(step):
    return {check["check"]: check for check in step["checks"]}


def test_an_allowed_request_passes_every_step(world):
    report = explain(world.client, world.mint(authorization_details=READ_REPORTER))
    assert report["allowed"] is True and report["reason"] == "allowed"
    assert [s["status"] for s in report["steps"]] == ["passed"] * 7
    assert report["by_layer"]["rar_required"]["reason"] == "claim_present"
    token = report["by_layer"]["token"]
    assert token["profile"]["status"] == "matched" and token["profile"]["name"] == "agents-idp"
    assert {c["status"] for c in token["checks"]} == {"passed"}
    assert token["presented"]["verified"] is True and token["presented"]["claims"]["sub"] == "agent-bot"
    identity = report["by_layer"]["identity"]
    assert identity["delegated"] is False and identity["subject"]["entity_id"] == world.agent
    assert report["by_layer"]["registry"]["registration"]["id"] == world.registration
    baseline = report["by_layer"]["baseline"]
    assert baseline["policies"] == ["policy-reader"] and baseline["matched_pattern"] == "sys/policy/*"
    assert report["by_layer"]["rar"]["entries"] == [
        {"index": 0, "type": "vault:path_access", "path": "sys/policy/policy-reader", "capabilities": ["read"],
         "status": "matches"}
    ]  # fmt: skip
    assert report["decision"]["decision"] == "allow"  # the same rendering as the audit line


def test_a_bad_signature_fails_the_signature_check_after_the_profile_matched(world):
    payload = jwt_forge.claims(int(time.time()), iss=ISSUER, aud=AUDIENCE, sub="agent-bot")
    token = jwt_forge.token("rsa_attacker", head=jwt_forge.header("RS256", kid="rsa"), payload=payload)
    report = explain(world.client, token)
    assert (report["allowed"], report["reason"], report["layer"]) == (False, "signature_invalid", "token")
    step = report["by_layer"]["token"]
    assert step["profile"]["name"] == "agents-idp" and step["presented"]["verified"] is False
    by_check = checks(step)
    assert by_check["key"]["status"] == "passed" and by_check["signature"]["status"] == "failed"
    assert by_check["signature"]["reason"] == "signature_invalid" and by_check["signature"]["detail"]
    assert by_check["lifetime"]["status"] == "not_reached"
    assert report["by_layer"]["identity"]["status"] == "not_reached"


def test_an_unknown_issuer_says_which_issuers_are_trusted(world):
    report = explain(world.client, world.mint(iss="https://rogue.example/"))
    assert report["reason"] == "no_profile"
    step = report["by_layer"]["token"]
    assert checks(step)["profile"]["status"] == "failed" and checks(step)["header"]["status"] == "passed"
    profile = step["profile"]
    assert profile["status"] == "none" and profile["issuer"] == "https://rogue.example"
    assert "https://rogue.example" in profile["why"] and profile["known_issuers"] == [ISSUER]


def test_an_unregistered_actor_is_named_with_both_parties(world):
    token = world.mint(sub="agent-bot", act={"sub": "alice"}, authorization_details=READ_REPORTER)
    report = explain(world.client, token)
    assert (report["reason"], report["layer"]) == ("actor_not_registered", "registry")
    identity = report["by_layer"]["identity"]
    assert identity["status"] == "passed" and identity["delegated"] is True
    assert identity["subject"]["entity_id"] == world.agent and identity["actor"]["entity_id"] == world.human
    registry = report["by_layer"]["registry"]
    assert registry["status"] == "failed" and registry["role"] == "actor" and registry["registration"] is None
    assert world.human in registry["detail"]


def test_a_ceiling_refusal_names_the_ceiling_policies_and_the_granting_baseline(world):
    token = world.mint(authorization_details=[rar("sys/policy/agent-ceiling", "read")])
    report = explain(world.client, token, "sys/policy/agent-ceiling")
    assert (report["reason"], report["layer"]) == ("ceiling_no_matching_path", "ceiling")
    baseline, ceiling = report["by_layer"]["baseline"], report["by_layer"]["ceiling"]
    assert baseline["status"] == "passed" and baseline["policies"] == ["policy-reader"]
    assert ceiling["status"] == "failed" and ceiling["matched_pattern"] is None
    assert {"agent-ceiling", "default-ceiling"} <= set(ceiling["policies_named"])
    assert report["by_layer"]["rar"]["status"] == "not_reached"
    assert report["by_layer"]["rar"]["entries"][0]["status"] == "matches"  # what the RAR would have said


def test_rar_no_match_lists_every_entry_matched_or_skipped_with_the_reason(world):
    details = [
        {"type": "openid_credential", "path": "sys/policy/policy-reader", "capabilities": ["read"]},
        rar("sys/policy/other", "read"),
        {"type": "vault:path_access", "path": "sys/policy/policy-reader"},
    ]
    report = explain(world.client, world.mint(authorization_details=details))
    assert (report["reason"], report["layer"]) == ("rar_no_match", "rar")
    entries = report["by_layer"]["rar"]["entries"]
    assert [e["status"] for e in entries] == ["skipped", "no_match", "skipped"]
    assert "openid_credential" in entries[0]["why"]
    assert entries[1]["why"] == "no_matching_path"
    assert "capabilities" in entries[2]["why"]


def test_missing_authorization_details_say_which_settings_could_make_them_optional(world):
    report = explain(world.client, world.mint())
    step = report["by_layer"]["rar_required"]
    assert step["status"] == "failed" and step["claim_present"] is False
    assert step["profile_optional"] is False and step["registration_optional"] is False


def test_the_agent_still_sees_only_permission_denied(world):
    token = world.mint(sub="agent-bot", act={"sub": "alice"}, authorization_details=READ_REPORTER)
    assert explain(world.client, token)["reason"] == "actor_not_registered"
    assert world.as_agent(token).get("sys/policy/policy-reader").json() == DENIED


def test_explain_needs_sudo_and_update_or_root(world):
    put_policy(world.client, "explain-no-sudo", 'path "sys/authorize/explain" { capabilities = ["update"] }')
    put_policy(world.client, "explainer", 'path "sys/authorize/explain" { capabilities = ["update", "sudo"] }')
    body = {"token": world.mint(authorization_details=READ_REPORTER), "operation": "read", "path": "sys/x"}
    explainer = world.client.with_token(child_token(world.client, ["explainer"]))
    assert explainer.post("sys/authorize/explain", json=body).status_code == 200
    refused = [
        world.client.with_token(child_token(world.client, ["explain-no-sudo"])),
        world.client.with_token(""),
        world.as_agent(world.mint(authorization_details=[rar("sys/authorize/explain", "update", "sudo")])),
    ]
    for caller in refused:
        resp = caller.post("sys/authorize/explain", json=body)
        assert resp.status_code == 403 and resp.json() == DENIED


def test_explain_bad_input_is_a_400_naming_the_field(world):
    resp = world.client.post("sys/authorize/explain", json={"token": "a.b.c", "operation": "read"})
    assert resp.status_code == 400 and resp.json()["errors"][0].startswith('field "path"')


# -- the CLI -----------------------------------------------------------------------------------------------------------


def cli(world, *args, jwt=None, **kwargs):
    command = [vgtest.VAULTGUARD, "explain", "--address", world.client.url, "--token", world.client.token]
    command += ["--namespace", world.client.namespace]
    if jwt is not None:
        command += ["--jwt", jwt]
    return subprocess.run(command + list(args), capture_output=True, text=True, timeout=60, **kwargs)


def test_the_cli_prints_a_report_and_exits_0_when_allowed(world):
    done = cli(world, "--operation", "read", "--path", "sys/policy/policy-reader",
               jwt=world.mint(authorization_details=READ_REPORTER))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ALLOWED: allowed")
    assert "[ok]   7. authorization_details (RAR): rar_match" in done.stdout


def test_the_cli_exits_1_when_denied_and_says_where(world, tmp_path):
    jwt_file = tmp_path / "agent.jwt"
    jwt_file.write_text(world.mint(authorization_details=[rar("sys/policy/other", "read")]) + "\n")
    done = cli(world, "--jwt-file", str(jwt_file), "--operation", "read", "--path", "sys/policy/policy-reader")
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("DENIED: rar_no_match (at rar)")
    assert "[0] no_match: sys/policy/other [read] (no_matching_path)" in done.stdout


def test_the_cli_prints_the_api_json_with_json(world):
    done = cli(world, "--operation", "read", "--path", "sys/x", "--param", "why=a=b", "--json", jwt="not-a-jwt")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["reason"] == "malformed" and report["request"]["parameters"] == ["why"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--operation", "read"], "Missing option '--path'"),
        (["--operation", "read", "--path", "x", "--jwt", "a", "--jwt-file", "f"], "exactly one of --jwt"),
        (["--operation", "read", "--path", "x", "--jwt", "a", "--param", "novalue"], "NAME=VALUE"),
        (["--operation", "write", "--path", "x", "--jwt", "a"], 'field "operation"'),
        (["--operation", "read", "--path", "x", "--jwt", "a", "--token", "hvs.bogus"], "permission denied"),
        (["--operation", "read", "--path", "x", "--jwt", "a", "--address", "http://127.0.0.1:9"], "cannot reach"),
    ],
)
def test_the_cli_exits_2_with_one_line_when_the_question_cannot_be_asked(world, args, message):
    done = cli(world, *args)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("Error: ") and message in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
