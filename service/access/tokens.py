"""The caller's token, read by one rule for authentication and for the audit log, over HTTP and gRPC."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import ApiError


class UnusableToken(ApiError):
    """The request's token cannot be used at all: answered 400, authenticated as nobody; `reason` names the
    rule in the audit log (audit.entry.ADMIN_REFUSALS)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(400, message)
        self.reason = reason


class ConflictingTokens(UnusableToken):
    """The request presents more than one distinct token."""

    def __init__(self) -> None:
        super().__init__(
            "conflicting_tokens",
            "conflicting tokens: the X-Vault-Token and Authorization headers name different tokens",
        )


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


def usable_token(headers: Iterable[tuple[str, Any]], max_size: int) -> str:
    """`presented_token`, refused (UnusableToken, 400) when conflicting or longer than `max_size` bytes
    (the listener's max_token_header_size; negative: no limit)."""
    token = presented_token(headers)
    if max_size >= 0 and len(token) > max_size:
        raise UnusableToken(
            "too_large", f"authentication token is larger than the maximum allowed size of {max_size} bytes"
        )
    return token


def scope_headers(scope: dict[str, Any]) -> Iterable[tuple[str, str]]:
    """An ASGI scope's raw headers, as text."""
    return ((k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", ()))
