"""The caller's token, read by one rule for authentication and for the audit log, over HTTP and gRPC."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class ConflictingTokens(ValueError):
    """The request presents more than one distinct token: answered 400, authenticated as nobody."""

    def __init__(self) -> None:
        super().__init__("conflicting tokens: the X-Vault-Token and Authorization headers name different tokens")


def presented_token(headers: Iterable[tuple[str, Any]]) -> str:
    """The token from request headers or gRPC metadata (names any case): `X-Vault-Token`, else
    `Authorization: Bearer`; "" when none is presented.

    Repeating the same token is harmless; two different ones raise ConflictingTokens, so no layer can
    authenticate one token while another layer records the other."""
    seen: set[str] = set()
    primary = bearer = ""
    for name, value in headers:
        if not isinstance(value, str):  # binary gRPC metadata never carries a token
            continue
        name = name.lower()
        if name == "x-vault-token":
            token = value.strip()
            primary = primary or token
        elif name == "authorization" and value[:7].lower() == "bearer ":
            token = value[7:].strip()
            bearer = bearer or token
        else:
            continue
        if token:
            seen.add(token)
    if len(seen) > 1:
        raise ConflictingTokens
    return primary or bearer


def scope_token(scope: dict[str, Any]) -> str:
    """`presented_token` for an ASGI scope's raw headers."""
    return presented_token((k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", ()))
