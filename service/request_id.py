"""One id per request, shared by the response envelope and the audit entries (as in Vault)."""

from __future__ import annotations

import os
from contextvars import ContextVar

_CURRENT: ContextVar[str | None] = ContextVar("vaultguard_request_id", default=None)


def new_id() -> str:
    """A random (version 4) UUID in its text form, as `str(uuid.uuid4())` gives it, for half the cost: it is
    made for every request."""
    text = os.urandom(16).hex()
    variant = "89ab"[int(text[16], 16) & 3]  # RFC 9562 variant bits 10xx
    return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-{variant}{text[17:20]}-{text[20:]}"


def start() -> str:
    """A new id for the request being handled by this task."""
    request_id = new_id()
    _CURRENT.set(request_id)
    return request_id


def current() -> str:
    """The id of the request being handled (a fresh one outside any request)."""
    return _CURRENT.get() or new_id()
