"""Vault's response envelope."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse, Response

from .. import request_id
from ..errors import not_found

_OBJECT_OR_NULL = {"anyOf": [{"type": "object"}, {"type": "null"}]}
# The JSON schema of what `respond` sends (the OpenAPI document's `VaultResponse`); some answers add keys.
ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["request_id", "lease_id", "renewable", "lease_duration", "data", "wrap_info", "warnings", "auth"],
    "properties": {
        "request_id": {"type": "string"},
        "lease_id": {"type": "string"},
        "renewable": {"type": "boolean"},
        "lease_duration": {"type": "integer"},
        "data": _OBJECT_OR_NULL,
        "wrap_info": _OBJECT_OR_NULL,
        "warnings": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]},
        "auth": _OBJECT_OR_NULL,
    },
}


def respond(
    data: dict[str, Any] | None = None,
    *,
    warnings: list[str] | None = None,
    auth: dict[str, Any] | None = None,
    status: int = 200,
    extra: dict[str, Any] | None = None,
) -> Response:
    """200 with the standard envelope; 204 when there is nothing to say (Vault returns 200 if warnings)."""
    if data is None and not warnings and auth is None and not extra:
        return Response(status_code=204)
    body: dict[str, Any] = {
        "request_id": request_id.current(),
        "lease_id": "",
        "renewable": False,
        "lease_duration": 0,
        "data": data,
        "wrap_info": None,
        "warnings": warnings or None,
        "auth": auth,
    }
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status)


def list_response(keys: list[str], key_info: dict[str, Any] | None = None) -> Response:
    """LIST answer; an empty list is a 404 as in Vault (DECISIONS.md#d13)."""
    if not keys:
        raise not_found()
    data: dict[str, Any] = {"keys": keys}
    if key_info is not None:
        data["key_info"] = key_info
    return respond(data)
