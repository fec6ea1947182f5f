"""HTTP front end of the decision API: `sys/authorize` for resource servers, `sys/authorize/explain` for operators.

`POST sys/authorize` needs `update` on `sys/authorize`; a refused agent token is still a 200 answer with
`allowed: false` (the asking gateway answers its own client). The layers of the decision are included only
for callers who may also ask for the explanation. `POST sys/authorize/explain` needs `sudo` and `update`
on `sys/authorize/explain` (or root) and is never open to agents. Both evaluate with
`decision_query.evaluate_query`, the code the gRPC `Check` also runs.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ..access.callers import AdminCaller
from ..errors import permission_denied
from .decision_query import EXPLAIN_PATH, QUERY, CheckQuery, CheckResult, evaluate_query, parse_query
from .deps import Context, context
from .envelope import respond
from .explain import explain
from .operations import Operation, route

router = APIRouter()
ASK = Operation(body=QUERY)


@route(router, "/v1/sys/authorize", POST=ASK, PUT=ASK)
async def authorize(request: Request) -> Response:
    ctx = await context(request)
    ctx.authorize("update")
    query, warnings = parse_query(await ctx.body())
    result = await _evaluate(ctx, query)
    return respond(result.answer(details=_may_explain(ctx)), warnings=warnings)


@route(router, "/v1/sys/authorize/explain", POST=ASK, PUT=ASK)
async def authorize_explain(request: Request) -> Response:
    ctx = await context(request)
    if not isinstance(ctx.caller, AdminCaller):
        raise permission_denied()  # operators only: an agent never learns why a token was refused (DECISIONS.md#d5)
    ctx.authorize("update")
    if not _may_explain(ctx):
        raise permission_denied()
    query, warnings = parse_query(await ctx.body())
    result = await _evaluate(ctx, query)
    return respond(explain(request.app.state.access, ctx.namespace, query, result),
                   warnings=warnings)  # fmt: skip


async def _evaluate(ctx: Context, query: CheckQuery) -> CheckResult:
    state = ctx.request.app.state
    return await evaluate_query(state.access, state.audit, ctx.record, ctx.namespace, query)


def _may_explain(ctx: Context) -> bool:
    """Root, or an admin token whose ACL grants `sudo` with `update` on `sys/authorize/explain`."""
    caller = ctx.caller
    return isinstance(caller, AdminCaller) and caller.grants_sudo(ctx.namespace, EXPLAIN_PATH, "update")
