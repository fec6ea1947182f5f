"""The route table (service/api/route_table.py) serves a request with the route the router would choose:
the first route, in the order the application includes them, whose path and method both match
(DECISIONS.md#d63); it leaves to the router what it cannot call directly."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.routing import Match

from vaultguard.service.api.route_table import RouteTable, _direct_endpoint
from vaultguard.service.app import ROUTERS

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
SEGMENT_VALUES = ("x", "Policy-Mgr", "a b", "%2F", "x/y", "x/y/", "", " ", "..", "ü", "data", "metadata", "acl")


def routes_in_order(routers) -> list:  # noqa: ANN001
    return [route for router in routers for route in router.routes]


def router_choice(routes: list, method: str, path: str):  # noqa: ANN201
    """The rule the framework's router applies, written out: the first route matching path and method."""
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "path_params": {}}
    for route in routes:
        match, child = route.matches(scope)
        if match == Match.FULL:
            return route, child["path_params"]
    return None, None


def sample_paths(routes: list) -> set[str]:
    """Each route's template with every sample value in its parameters, with and without a trailing slash."""
    paths = set()
    for route in routes:
        for value in SEGMENT_VALUES:
            path = re.sub(r"\{[^}]+\}", value, route.path)
            paths.update({path, path + "/", path.rstrip("/"), path.upper()})
    return paths


def check_agrees(table: RouteTable, routes: list, method: str, path: str) -> None:
    expected, params = router_choice(routes, method, path)
    found = table.find(method, path)
    if expected is None:
        assert found is None, f"{method} {path}: the table serves a request the router refuses"
    elif found is None:
        assert _direct_endpoint(expected)[0] is None, f"{method} {path}: the table leaves {expected.path} to the router"
    else:
        assert found.route.endpoint is expected.endpoint, f"{method} {path}: table and router disagree"
        assert found.params == params


@pytest.mark.parametrize("method", METHODS)
def test_the_table_chooses_the_routers_route_for_every_template_of_the_application(method: str) -> None:
    routes = routes_in_order(ROUTERS)
    table = RouteTable(ROUTERS)
    paths = sample_paths(routes)
    assert len(paths) > 900
    for path in sorted(paths):
        check_agrees(table, routes, method, path)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    method=st.sampled_from(METHODS),
    segments=st.lists(
        st.sampled_from(["sys", "secret", "data", "metadata", "identity", "entity", "name", "id", "policies", "acl",
                         "policy", "auth", "token", "agent-registry", "register", "", "x", "X", "config",
                         "namespaces", "authorize", "oauth-resource-server", "group", "alias", "health"])
        | st.text(max_size=4),
        max_size=6,
    ),
)  # fmt: skip
def test_the_table_chooses_the_routers_route_for_generated_paths(method: str, segments: list[str]) -> None:
    path = "/v1/" + "/".join(segments)
    check_agrees(RouteTable(ROUTERS), routes_in_order(ROUTERS), method, path)


def test_an_earlier_route_with_a_parameter_wins_over_a_later_literal_one() -> None:
    first = APIRouter()

    @first.get("/v1/things/{name}")
    async def by_name(name: str, request: Request) -> JSONResponse:
        return JSONResponse({})

    second = APIRouter()

    @second.get("/v1/things/special")
    async def special(request: Request) -> JSONResponse:
        return JSONResponse({})

    @second.get("/v1/{anything:path}")
    async def anything(anything: str, request: Request) -> JSONResponse:
        return JSONResponse({})

    table = RouteTable([first, second])
    assert table.find("GET", "/v1/things/special").route.endpoint is by_name
    assert table.find("GET", "/v1/things/special").params == {"name": "special"}
    assert table.find("GET", "/v1/other/x").route.endpoint is anything  # a parameter in the first two segments
    assert table.find("POST", "/v1/things/special") is None  # no method matches: the router answers 405


def test_a_route_taking_more_than_path_parameters_and_the_request_is_left_to_the_router() -> None:
    router = APIRouter()

    @router.get("/v1/things/{name}")
    async def with_query(name: str, request: Request, limit: int = 10) -> JSONResponse:
        return JSONResponse({})

    @router.get("/v1/things/{name:path}")
    async def later(name: str, request: Request) -> JSONResponse:
        return JSONResponse({})

    table = RouteTable([router])
    assert table.find("GET", "/v1/things/x") is None  # not `later`: the router would serve `with_query`
    assert table.find("GET", "/v1/things/x/y").route.endpoint is later


def test_a_route_outside_the_api_is_refused_when_the_table_is_built() -> None:
    router = APIRouter()

    @router.get("/ui/page")
    async def page(request: Request) -> JSONResponse:
        return JSONResponse({})

    with pytest.raises(ValueError, match="/ui/page"):
        RouteTable([router])


def test_every_route_of_the_application_is_called_directly():
    """A route declared with more than path parameters and the request would quietly go back to the router's
    cost (DECISIONS.md#d63): declare what it reads elsewhere, or make this exception explicit here."""
    left = [f"{sorted(r.methods)} {r.path}" for r in routes_in_order(ROUTERS) if _direct_endpoint(r)[0] is None]
    assert left == []
