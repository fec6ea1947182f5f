"""The served OpenAPI document describes every route from the route's own declaration (DECISIONS.md#d65):
a route registered without one (a bare `@router.post(...)`) fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.routing import APIRoute

import vgtest
from vaultguard.service.api import decision_query, kv, registry
from vaultguard.service.api import fields as f
from vaultguard.service.api.operations import LIST_ONLY, Operation
from vaultguard.service.app import create_app
from vaultguard.service.config import Settings
from vaultguard.service.storage.store import Store

WRITES = {"POST", "PUT", "PATCH"}
API_SOURCES = Path(__file__).resolve().parents[3] / "service" / "api"
ERROR_REF = {"$ref": "#/components/schemas/VaultError"}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    url = "sqlite:///" + str(tmp_path_factory.mktemp("openapi") / "vaultguard.db")
    store = Store(url)
    store.migrate()
    vgtest.unseal(store).dispose()  # the data key a server start creates
    return create_app(Settings(storage_url=url, dev=True))


@pytest.fixture(scope="module")
def document(app):
    return app.openapi()


def _operations(app):
    """(path, method) of every route of the app, as the document names them."""
    for route in _api_routes(app.routes):
        for method in sorted(route.methods):
            yield route.path_format, method


def _api_routes(routes):
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)  # newer FastAPI keeps an included router whole
        if included is not None:
            yield from _api_routes(included.routes)


def test_every_route_of_the_app_is_declared_with_its_body_and_vault_errors(app, document):
    undeclared = []
    for path, method in _operations(app):
        # `<path>/` is described once, as `<path>` (the same operation, Vault's LIST spelling)
        described = document["paths"].get(path) or document["paths"][path.rstrip("/")]
        operation = described[method.lower()]
        responses = operation["responses"]
        if responses.get("4XX", {}).get("content", {}).get("application/json", {}).get("schema") != ERROR_REF:
            undeclared.append(f"{method} {path}: no declaration (api/operations.py route)")
        elif method in WRITES:
            content = operation.get("requestBody", {}).get("content", {})
            if not content or any(c.get("schema", {}).get("type") != "object" for c in content.values()):
                undeclared.append(f"{method} {path}: no request body schema")
        if "422" in responses:
            undeclared.append(f"{method} {path}: FastAPI's validation error, which this service never sends")
    assert not undeclared, "\n".join(undeclared)
    assert len(list(_operations(app))) > 100


def test_a_body_in_the_document_is_the_declaration_the_route_validates_with(document):
    register = document["paths"]["/v1/agent-registry/register"]["post"]
    assert register["requestBody"]["content"]["application/json"]["schema"] == registry.REGISTER.schema()
    assert register["requestBody"]["content"]["application/json"]["schema"]["properties"]["display_name"] == {
        "type": "string",
        "maxLength": registry.FIELDS["display_name"].max_length,
    }
    patch = document["paths"]["/v1/secret/data/{path}"]["patch"]["requestBody"]["content"]
    assert patch == {kv.MERGE_PATCH: {"schema": kv.DATA.schema()}}
    ask = document["paths"]["/v1/sys/authorize"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert ask["properties"]["operation"]["enum"] == list(decision_query.OPERATIONS)


def test_list_is_a_query_parameter_of_the_routes_that_list(document):
    listing = document["paths"]["/v1/agent-registry/registration/id"]["get"]["parameters"]
    assert LIST_ONLY.parameter() in listing
    reading = document["paths"]["/v1/secret/metadata/{path}"]["get"]["parameters"]
    assert {p["name"]: p["required"] for p in reading if p["in"] == "query"} == {"list": False}
    subkeys = document["paths"]["/v1/secret/subkeys/{path}"]["get"]["parameters"]
    assert {p["name"] for p in subkeys if p["in"] == "query"} == {"version", "depth"}


def test_every_query_parameter_a_route_reads_is_declared(document):
    """The routes read query parameters as `request.query_params.get("<name>")`; each name is in the document."""
    read = set()
    for source in API_SOURCES.glob("*.py"):
        read |= set(re.findall(r"query_params\.get\(\s*\"(\w+)\"", source.read_text(encoding="utf-8")))
    declared = {
        parameter["name"]
        for methods in document["paths"].values()
        for operation in methods.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query"
    }
    assert read, "the routes read no query parameter any more: this test looks in the wrong place"
    assert read <= declared, f"read but not declared: {sorted(read - declared)}"


def test_errors_are_one_shared_schema_with_field_errors(document):
    error = document["components"]["schemas"]["VaultError"]
    assert error["required"] == ["errors"]
    assert set(error["properties"]) == {"errors", "field_errors"}
    ids = [op["operationId"] for methods in document["paths"].values() for op in methods.values()]
    assert len(ids) == len(set(ids))


def test_each_field_kind_has_a_schema():
    for kind in ("string", "bool", "int", "duration", "strings", "policies", "map", "objects"):
        assert f.Field(kind).schema()
    assert Operation(body=f.Body({"n": f.Field("int")})).described()["requestBody"]
