"""Vault request-path conventions, applied before routing.

- `LIST` becomes `GET` with a list flag (Vault treats `LIST x` and `GET x?list=true` alike).
- A path holding a control character (NUL, newline, tab, ...) is refused with 400.
- A namespace may be given as a path prefix (`/v1/ns1/ns2/sys/...`) and/or `X-Vault-Namespace`; the
  prefix is stripped here so routes only ever see namespace-relative paths.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from vaultguard.rules.names import MOUNT_ROOTS, has_control_characters

from ..errors import ApiError


def split_namespace(path: str) -> tuple[str, str]:
    """('ns1/ns2', 'sys/policy/x') from 'ns1/ns2/sys/policy/x'; no mount root ⇒ the whole path is the rest."""
    segments = path.split("/")
    for i, segment in enumerate(segments):
        if segment in MOUNT_ROOTS:
            return "/".join(segments[:i]), "/".join(segments[i:])
    return "", path


def join_namespace(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


class VaultPathMiddleware:
    def __init__(self, app):  # noqa: ANN001
        self.app = app

    async def __call__(self, scope, receive, send):  # noqa: ANN001
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            return await self.app(scope, receive, send)
        state = scope.setdefault("state", {})
        method = scope["method"]
        raw_query = scope.get("query_string", b"")
        query = parse_qs(raw_query.decode("latin-1")) if raw_query else {}
        is_list = method == "LIST" or (method == "GET" and query.get("list", [""])[0].lower() in ("true", "1"))
        if method == "LIST":
            scope["method"] = "GET"
        state["vg_list"] = is_list
        rest = scope["path"][len("/v1/") :]
        header_ns = ""
        for key, value in scope.get("headers", ()):
            if key == b"x-vault-namespace":
                header_ns = value.decode("latin-1")
        if has_control_characters(rest) or has_control_characters(header_ns):
            # No name or path holds one, storage engines refuse NUL (PostgreSQL raises), and the router would
            # take "x\n" for "x" in a `{name:path}` route while the ACL check saw "x\n" (THREATS.md#t26).
            err = ApiError(400, "invalid request path: control characters are not allowed")
            return await _send_error(send, err)
        prefix, rest = split_namespace(rest)
        if any(seg in (".", "..") for seg in rest.split("/")) or any(
            seg in (".", "..") for seg in (header_ns + "/" + prefix).split("/")
        ):
            err = ApiError(400, "invalid request path: '.' and '..' segments are not allowed")
            return await _send_error(send, err)
        state["vg_namespace_path"] = join_namespace(header_ns, prefix)
        state["vg_path"] = rest
        scope["path"] = "/v1/" + rest
        scope["raw_path"] = scope["path"].encode("utf-8", "surrogateescape")
        return await self.app(scope, receive, send)


async def _send_error(send, err: ApiError) -> None:  # noqa: ANN001
    import json

    body = json.dumps(err.body()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": err.status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
