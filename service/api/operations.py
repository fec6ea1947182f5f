"""Each route's declaration, and the served OpenAPI document built from them (DECISIONS.md#d65).

A route is registered with `route(router, path, GET=..., POST=...)`: one `Operation` per method, naming the
request body (an `f.Body`, the very object the route validates with through `Context.authorize_body`), the
query parameters (`list=true` where the route answers LIST), and what it answers. FastAPI renders them into
`/v1/sys/openapi.json`; tests/unit/api/test_operations.py fails for a route registered any other way.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI

from ..errors import ERROR_SCHEMA
from . import fields as f
from .envelope import ENVELOPE_SCHEMA

REF = "#/components/schemas/"
ERROR = {"description": "Vault's error body", "content": {"application/json": {"schema": {"$ref": REF + "VaultError"}}}}
SCHEMAS = {"VaultError": ERROR_SCHEMA, "VaultResponse": ENVELOPE_SCHEMA}
SECURITY_SCHEMES = {
    "VaultToken": {"type": "apiKey", "in": "header", "name": "X-Vault-Token"},
    "Bearer": {"type": "http", "scheme": "bearer", "description": "an admin token, or an agent's JWT"},
}


@dataclass(frozen=True)
class Query:
    """A query parameter, with the schema of the rule that checks it where the route reads it."""

    name: str
    schema: dict[str, Any]
    description: str
    required: bool = False

    def parameter(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "in": "query",
            "required": self.required,
            "schema": self.schema,
            "description": self.description,
        }


# Vault's LIST method is served as GET with `?list=true` (api/middleware.py); the LIST method itself works too.
_LIST_TEXT = "Vault's LIST: `list=true` (or the LIST method) lists the collection"
LIST_ONLY = Query("list", {"type": "string", "enum": ["true"]}, _LIST_TEXT + "; without it the path answers 404", True)
LIST_ALSO = Query("list", {"type": "string", "enum": ["true"]}, _LIST_TEXT + "; without it the path is read")


@dataclass(frozen=True)
class Operation:
    """One method of one route. `answer`: "envelope" (Vault's envelope, or 204 when there is nothing to say),
    "status" (a bare JSON object, the status routes) or "text" (metrics)."""

    body: f.Body | None = None
    body_type: str = "application/json"
    query: tuple[Query, ...] = ()
    answer: str = "envelope"
    public: bool = False  # no token needed

    def described(self) -> dict[str, Any]:
        """This operation's part of the document: its answers, request body, query parameters, security."""
        if self.answer == "envelope":
            envelope = {"application/json": {"schema": {"$ref": REF + "VaultResponse"}}}
            responses: dict[str, Any] = {
                "200": {"description": "Vault's response envelope", "content": envelope},
                "204": {"description": "nothing to say: no data and no warnings"},
            }
        elif self.answer == "status":
            status = {"application/json": {"schema": {"type": "object"}}}
            responses = {"200": {"description": "status", "content": status}}
        else:
            text = {"text/plain": {"schema": {"type": "string"}}}
            responses = {"200": {"description": "metrics", "content": text}}
        described: dict[str, Any] = {"responses": responses}
        if self.body is not None:
            described["requestBody"] = {"required": False, "content": {self.body_type: {"schema": self.body.schema()}}}
        if self.query:
            described["parameters"] = [q.parameter() for q in self.query]
        if self.public:
            described["security"] = []
        return described


# Bodies of routes that read no field of the body they are sent (Vault clients send `{}` or nothing).
NO_FIELDS = f.Body({})
READ = Operation()
DELETE = Operation()
LISTS = Operation(query=(LIST_ONLY,))
NO_FIELDS_WRITE = Operation(body=NO_FIELDS)

E = TypeVar("E", bound=Callable[..., Any])
_PER_METHOD = "x-vaultguard-methods"  # where `route` leaves each method's declaration for `serve_document`


def route(router: APIRouter, path: str, **by_method: Operation) -> Callable[[E], E]:
    """Register `endpoint` at `path` for the methods given (`GET=READ, POST=WRITE, ...`), as one route, as
    `router.api_route` would (routing is unchanged); each method's declaration goes into the document."""

    def register(endpoint: E) -> E:
        per_method = {method.lower(): operation.described() for method, operation in by_method.items()}
        router.add_api_route(
            path,
            endpoint,
            methods=list(by_method),
            responses={"4XX": ERROR, "5XX": ERROR},  # also keeps FastAPI from describing a 422 it never sends
            openapi_extra={_PER_METHOD: per_method},
        )
        return endpoint

    return register


def serve_document(app: FastAPI) -> None:
    """Add the shared schemas and the token schemes to the document FastAPI generates from the routes."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            with warnings.catch_warnings():  # one route serves POST and PUT alike: the ids are made unique below
                warnings.filterwarnings("ignore", "Duplicate Operation ID")
                document = generate()
            paths = document["paths"]
            for path in [p for p in paths if p.endswith("/") and _same(paths.get(p[:-1]), paths[p])]:
                # `<path>/` is the same operation as `<path>` (Vault's LIST spelling): one entry, so generated
                # clients do not get two functions whose names differ only by the slash.
                del paths[path]
            for methods in paths.values():
                for method, operation in methods.items():
                    # FastAPI names a route's operations after one of its methods; name each after its own.
                    operation["operationId"] = re.sub(r"_[a-z]+$", "_" + method, operation["operationId"])
                    declared = operation.pop(_PER_METHOD, {}).get(method, {})
                    operation["responses"].update(declared.get("responses", {}))
                    operation["parameters"] = operation.get("parameters", []) + declared.get("parameters", [])
                    if not operation["parameters"]:
                        del operation["parameters"]
                    operation.update({k: v for k, v in declared.items() if k not in ("responses", "parameters")})
            components = document.setdefault("components", {})
            components.setdefault("schemas", {}).update(SCHEMAS)
            components["securitySchemes"] = SECURITY_SCHEMES
            document["security"] = [{"VaultToken": []}, {"Bearer": []}]
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def _same(operations: dict[str, Any] | None, others: dict[str, Any]) -> bool:
    """Whether two paths' operations are the same but for their names."""

    def unnamed(methods: dict[str, Any] | None) -> dict[str, Any] | None:
        if methods is None:
            return None
        return {method: {k: v for k, v in op.items() if k != "operationId"} for method, op in methods.items()}

    return unnamed(operations) == unnamed(others)
