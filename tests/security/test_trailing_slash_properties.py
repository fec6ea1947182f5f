"""In-process, over every route of the service: a path with trailing slashes that no route takes reaches the
app as the path without them (the path the ACL check, the route and the audit log then see), and a path some
route takes with its slash is left alone. Never a redirect."""

from __future__ import annotations

import asyncio
import re

from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st

from vaultguard.service.app import ROUTERS, TrailingSlash

# The routers create_app includes, from the same list, so a new router is covered here too.
APP = FastAPI()  # the routes as create_app includes them: TrailingSlash sees the same objects
for router in ROUTERS:
    APP.include_router(router)
ROUTES = [route for router in ROUTERS for route in router.routes]  # each route's own template
SEGMENT = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=12)


def concrete(template: str, draw: st.DrawFn) -> str:
    """The route's path with every `{param}` (and `{param:path}`) filled in."""
    return re.sub(r"\{[^}]+\}", lambda _m: draw(SEGMENT), template)


def seen_by_the_app(path: str, method: str) -> str:
    """The path the app behind TrailingSlash receives for `method path` (state as the path middleware sets it)."""
    received: list[str] = []

    async def app(scope, receive, send):  # noqa: ANN001
        received.append(scope["path"])
        assert scope["state"]["vg_path"] == scope["path"].removeprefix("/v1/")

    scope = {"type": "http", "method": method, "path": path, "state": {"vg_path": path.removeprefix("/v1/")}}
    asyncio.run(TrailingSlash(app, APP.router.routes)(scope, None, None))
    return received[0]


def taken(path: str, method: str) -> bool:
    scope = {"type": "http", "method": method, "path": path}
    return any(route.matches(scope)[0].name == "FULL" for route in ROUTES)


@settings(deadline=None, max_examples=300)
@given(data=st.data(), slashes=st.integers(1, 3))
def test_a_trailing_slash_reaches_the_route_without_it_or_the_path_is_left_alone(data, slashes):
    route = data.draw(st.sampled_from(ROUTES))
    method = sorted(route.methods)[0]
    path = concrete(route.path, data.draw).rstrip("/")
    if not taken(path, method):  # a LIST route declared with its slash only
        return
    spelled = path + "/" * slashes
    received = seen_by_the_app(spelled, method)
    if any(route.matches({"type": "http", "method": method, "path": spelled})[0].name != "NONE" for route in ROUTES):
        assert received == spelled, "a route takes the path as sent"
    else:
        assert received == path
