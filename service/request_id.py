"""One id per request, shared by the response envelope and the audit entries (as in Vault)."""

from __future__ import annotations

import uuid
from contextvars import ContextVar

_CURRENT: ContextVar[str | None] = ContextVar("vaultguard_request_id", default=None)


def start() -> str:
    """A new id for the request being handled by this task."""
    request_id = str(uuid.uuid4())
    _CURRENT.set(request_id)
    return request_id


def current() -> str:
    """The id of the request being handled (a fresh one outside any request)."""
    return _CURRENT.get() or str(uuid.uuid4())
