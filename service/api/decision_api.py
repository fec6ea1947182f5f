"""HTTP front end of the decision API: `sys/authorize` for resource servers, `sys/authorize/explain` for operators.

`POST sys/authorize` needs `update` on `sys/authorize`; a refused agent token is still a 200 answer with
`allowed: false` (the asking gateway answers its own client). The layers of the decision are included only
for callers who may also ask for the explanation. `POST sys/authorize/explain` needs `sudo` and `update`
on `sys/authorize/explain` (or root) and is never open to agents. Both evaluate with `check.check`, the
code the gRPC `Check` also runs.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from .agents import AgentCaller
from .check import EXPLAIN_PATH, DecisionServices, acl_grants_sudo, check, parse_query
from .deps import Context, context
from .envelope import respond
from .errors import permission_denied
from .explain import explain

router = APIRouter()


@router.api_route("/v1/sys/authorize", methods=["POST", "PUT"])
async def authorize(request: Request) -> Response:
    ctx = await context(request)
    ctx.authorize("update")
    query, warnings = parse_query(await ctx.body())
    result = await check(DecisionServices.from_state(request.app.state), ctx.namespace, query)
    return respond(result.answer(details=_may_explain(ctx)), warnings=warnings)


@router.api_route("/v1/sys/authorize/explain", methods=["POST", "PUT"])
async def authorize_explain(request: Request) -> Response:
    ctx = await context(request)
    if isinstance(ctx.caller, AgentCaller):
        raise permission_denied()  # operators only: an agent never learns why a token was refused (DECISIONS.md#d5)
    ctx.authorize("update")
    if not _may_explain(ctx):
        raise permission_denied()
    query, warnings = parse_query(await ctx.body())
    services = DecisionServices.from_state(request.app.state)
    result = await check(services, ctx.namespace, query)
    return respond(explain(services, ctx.namespace, query, result), warnings=warnings)


def _may_explain(ctx: Context) -> bool:
    """Root, or an admin token whose ACL grants `sudo` with `update` on `sys/authorize/explain`."""
    caller = ctx.caller
    if caller is None or isinstance(caller, AgentCaller):
        return False
    if caller.token.is_root:
        return True
    relative = ctx.namespace.path[len(caller.token_namespace.path) :]
    return acl_grants_sudo(caller.acl, relative + EXPLAIN_PATH, "update")
