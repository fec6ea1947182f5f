"""`sys/audit-hash/:path`: the HMAC an audit device would log for a value, so operators can find a token's
lines in the audit log without the log ever holding the token."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ..access.canonical import AUDIT_DEVICE
from ..errors import bad_request
from . import fields as f
from .deps import context
from .envelope import respond
from .operations import Operation, route

router = APIRouter()
HASHED = f.Body({"input": f.Field("string", f.MAX_STRING)})
WRITE = Operation(body=HASHED)


@route(router, "/v1/sys/audit-hash/{path:path}", POST=WRITE, PUT=WRITE)
async def audit_hash(path: str, request: Request) -> Response:
    ctx = await context(request, name=path, rule=AUDIT_DEVICE)
    values, warnings = ctx.authorize_body("update", await ctx.body(), HASHED)
    audit = request.app.state.audit
    name = ctx.name
    if audit.broker.device(name) is None:
        raise bad_request(f'unknown audit device "{name}"')
    if "input" not in values:
        raise bad_request('field "input": required')
    digest = audit.hasher().digest(values["input"])
    return respond({"hash": digest}, warnings=warnings, extra={"hash": digest})
