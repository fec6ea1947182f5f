"""Every operation of the served OpenAPI document, fuzzed: schemathesis generates requests from the document
(valid ones, and ones that break its schemas) and sends them with the root token to a real server of the
test's own (it deletes, revokes and rewrites whatever it finds), on SQLite and on PostgreSQL.

Whatever the request, the service never answers 5xx; every answer is one the document declares (status,
content type, body schema); every 4xx is Vault's error body (`errors`, a list of strings; Vault's 404 has an
empty one); and a 400 that refuses a body or query field (or the URL's path segment) names it, in
`field_errors` or in the message (DECISIONS.md#d65, DECISIONS.md#d47). The examples per operation are bounded
so both engines take about 40 s together on a quiet 2-core machine.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import vgtest

# A deeper run: VAULTGUARD_FUZZ_EXAMPLES=50 .venv/bin/python -m pytest -p no:xdist tests/api/test_openapi_fuzz.py
EXAMPLES_PER_OPERATION = int(os.environ.get("VAULTGUARD_FUZZ_EXAMPLES", "5"))
TOKEN_HEADERS = ("authorization", "x-vault-token")
# The answer is one the document declares for the operation: status, content type and body schema.
AS_DOCUMENTED = [status_code_conformance, content_type_conformance, response_schema_conformance]
# Refusals about the request as a whole or the object its URL names, not about a body or query field.
NOT_ABOUT_A_FIELD = re.compile(
    r"failed to parse JSON input|missing path|invalid request path|no handler for route|unsupported operation"
    r"|request body larger than|PATCH requires Content-Type|permission denied|unknown audit device"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def fuzzed_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[vgtest.Server]:
    """A server of this test's own: the fuzzer may delete or revoke anything, the root token included."""
    database = None
    if request.param == "sqlite":
        url = "sqlite:///" + str(tmp_path / "fuzzed.db")
    else:
        if not vgtest.pg_available():
            if os.environ.get("VAULTGUARD_REQUIRE_PG") == "1":
                pytest.fail("PostgreSQL at 127.0.0.1:5432 is not reachable and VAULTGUARD_REQUIRE_PG=1")
            pytest.skip("PostgreSQL at 127.0.0.1:5432 is not reachable")
        database, url = vgtest.create_pg_database()
    server = vgtest.Server(url, tmp_path, workers=1).start()
    try:
        yield server
    finally:
        server.stop()
        if database is not None:
            vgtest.drop_pg_database(database)


def test_fuzzed_requests_never_get_a_server_error_and_every_refusal_is_vault_shaped(fuzzed_server):
    url = fuzzed_server.url
    schema = schemathesis.openapi.from_url(url + "/v1/sys/openapi.json")
    operations = _distinct(result.ok() for result in schema.get_all_operations())
    operations.sort(key=lambda op: _last(op.label))
    assert len(operations) > 60, "the document lost its operations"
    headers = {"X-Vault-Token": fuzzed_server.root_token}
    session = requests.Session()
    problems: list[str] = []

    for operation in operations:
        problems += _fuzz(operation, lambda case: case.call(base_url=url, session=session, headers=headers, timeout=30))

    assert not problems, f"{len(problems)} bad answers:\n" + "\n".join(problems[:30])


def _fuzz(operation: Any, send: Callable[[Any], requests.Response]) -> list[str]:
    """Send the operation's examples (valid ones and schema-breaking ones); the problems with the answers."""
    problems: list[str] = []
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def run(case: Any) -> None:
        # The fuzzer also makes up tokens (the document declares the token headers); the root token is used.
        case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() not in TOKEN_HEADERS}
        response = send(case)
        problem = _judge(operation.method.upper(), operation, response)
        try:
            case.validate_response(response, checks=AS_DOCUMENTED)
        except (Failure, FailureGroup) as exc:
            failures = exc.exceptions if isinstance(exc, FailureGroup) else [exc]
            problem = problem or "not as documented: " + "; ".join(f"{f.title}: {f.message}"[:300] for f in failures)
        if problem:
            problems.append(f"{operation.label}: {problem}\n  request: {_shown(case)}\n  answer: {response.text[:300]}")

    run()
    return problems


def _distinct(operations: Iterable[Any]) -> list[Any]:
    """One operation per route function and declaration: PUT is POST's twin, HEAD of sys/health its GET."""
    chosen: dict[tuple[str, str], Any] = {}
    for operation in operations:
        method = {"PUT": "POST", "HEAD": "GET"}.get(operation.method.upper(), operation.method.upper())
        chosen.setdefault((operation.path, method), operation)
    return list(chosen.values())


def _last(label: str) -> tuple[bool, str]:
    """The root token revoking itself would leave every later operation a 403: that one goes last."""
    return ("revoke-self" in label, label)


def _judge(method: str, operation: Any, response: Any) -> str | None:
    status = response.status_code
    if status >= 500:
        return f"server error {status}"
    if status < 400 or method == "HEAD":
        return None
    try:
        body = response.json()
    except ValueError:
        return f"{status} without a JSON body"
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not all(isinstance(e, str) for e in errors):
        return f"{status} without Vault's errors list"
    if status != 400 or body.get("field_errors"):
        return None
    text = " ".join(errors)
    if NOT_ABOUT_A_FIELD.search(text):
        return None
    names = _field_names(operation)
    if any(re.search(rf"\b{re.escape(name)}\b", text) for name in names):
        return None
    return "400 naming no field"


def _field_names(operation: Any) -> set[str]:
    definition = operation.definition.raw
    names = {p["name"] for p in definition.get("parameters", [])}
    for content in definition.get("requestBody", {}).get("content", {}).values():
        names |= set(content.get("schema", {}).get("properties", {}))
    names |= set(re.findall(r"{(\w+)}", operation.path))
    return names


def _shown(case: Any) -> str:
    body = case.body if not isinstance(case.body, bytes) else case.body[:200]
    try:
        shown_body = json.dumps(body)[:300]
    except (TypeError, ValueError):
        shown_body = repr(body)[:300]
    where = f"{case.method} {case.path} {case.path_parameters} query={case.query}"
    return f"{where} headers={case.headers} body={shown_body}"
