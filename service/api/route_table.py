"""Requests reach their route function straight from a table, ahead of the framework's router.

The framework's router tries its routes one by one (each try costs a regular-expression match and a few
thousand instructions) and then resolves the route's dependencies; with about a hundred routes that was
most of the cost of a request such as `sys/health` (DECISIONS.md#d63). Every route here is a function of
its path parameters (text) and the request, so the table calls it directly.

The table answers only when it finds the route the router would have chosen, and leaves everything else to
the router (404, 405, the OpenAPI document, a route that takes more than path parameters and the request):
the router's rule is the first route in declaration order whose path and method both match, so the table
keeps the same order and only skips routes that cannot match, by the first two segments of their paths.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.convertors import Convertor
from starlette.responses import Response

Endpoint = Callable[..., Awaitable[Response]]


@dataclass(frozen=True)
class TableRoute:
    order: int
    regex: re.Pattern
    methods: frozenset[str]
    convertors: dict[str, Convertor]
    endpoint: Endpoint | None  # None: the router must serve it (the route takes more than path parameters)
    request_param: str  # "" when the function takes no request


@dataclass(frozen=True)
class Found:
    route: TableRoute
    params: dict[str, Any]

    async def call(self, scope: dict, receive: Any) -> Response:
        scope["path_params"] = self.params
        assert self.route.endpoint is not None
        if not self.route.request_param:  # a route that reads nothing of the request
            return await self.route.endpoint(**self.params)
        return await self.route.endpoint(**self.params, **{self.route.request_param: Request(scope, receive)})


def _key(path: str) -> tuple[str, ...]:
    """The first two segments after `/v1/`: every route's first two segments are literal text, or the route
    is tried for every path."""
    return tuple(path[len("/v1/") :].split("/", 2)[:2])


def _direct_endpoint(route: APIRoute) -> tuple[Endpoint | None, str]:
    """The route's function when it takes only text path parameters and the request (or not even that), and
    the name of its request parameter ("" when it has none); else (None, "")."""
    dependant = route.dependant
    takes_more = (
        dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
        or dependant.body_params
        or dependant.dependencies
        or dependant.background_tasks_param_name
        or dependant.response_param_name
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.security_scopes_param_name
        or any(param.field_info.annotation is not str for param in dependant.path_params)
    )
    if takes_more or route.response_model is not None:
        return None, ""
    return route.endpoint, dependant.request_param_name or ""


class RouteTable:
    """The routes of `routers`, in the order the application includes them."""

    def __init__(self, routers: Iterable[APIRouter]):
        by_key: dict[tuple[str, ...], list[TableRoute]] = {}
        anywhere: list[TableRoute] = []  # routes with a parameter among their first two segments
        order = 0
        for router in routers:
            for route in router.routes:
                if not isinstance(route, APIRoute) or not route.path.startswith("/v1/"):
                    raise ValueError(f"{getattr(route, 'path', route)!r}: only /v1/ API routes belong in the table")
                endpoint, request_param = _direct_endpoint(route)
                entry = TableRoute(order, route.path_regex, frozenset(route.methods), route.param_convertors,
                                   endpoint, request_param)  # fmt: skip
                order += 1
                key = _key(route.path)
                if any("{" in segment for segment in key):
                    anywhere.append(entry)
                else:
                    by_key.setdefault(key, []).append(entry)
        self._candidates = {key: sorted(routes + anywhere, key=lambda r: r.order) for key, routes in by_key.items()}
        self._anywhere = anywhere

    def find(self, method: str, path: str) -> Found | None:
        """The route the router would serve `method path` with, when the table can call it directly."""
        for route in self._candidates.get(_key(path), self._anywhere):
            match = route.regex.match(path)
            if match is None or method not in route.methods:
                continue
            if route.endpoint is None:
                return None
            params = {name: route.convertors[name].convert(value) for name, value in match.groupdict().items()}
            return Found(route, params)
        return None
