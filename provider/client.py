"""The provider's one HTTP client to the service (or to a Vault Enterprise server: same API).

Every request carries `X-Vault-Token`, `X-Vault-Request: true` and, when there is one, `X-Vault-Namespace`
(the provider's namespace joined with the resource's: `<provider_ns>/<resource_ns>`). Connection errors
and 5xx answers are retried with backoff, as Vault's own Go client does; the service's `{"errors": [...]}`
body becomes a typed exception whose text carries the server's messages.

Before the first API call the client settles its token once per provider process (DECISIONS.md#d48):
`auth/token/lookup-self` (the token's namespace becomes the default namespace) and, unless
`skip_child_token`, `auth/token/create` for a short-lived child token used from then on. Resources that
need Enterprise call `require_enterprise()`, which reads `sys/seal-status` once.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

if TYPE_CHECKING:  # pragma: no cover
    import http.client
    import ssl

# The transport is the standard library's http.client (DECISIONS.md#d64): every provider process Terraform
# starts for a plan or an apply configures a client, and importing requests cost more than grpc did.

DEFAULT_MAX_RETRIES = 2
DEFAULT_CHILD_TOKEN_TTL = 1200
DEFAULT_TOKEN_NAME = "terraform"
# (connect, read) seconds; Vault's Go client defaults to 60 s for a whole request.
DEFAULT_TIMEOUT = (10.0, 60.0)
RETRY_STATUSES = (500, 502, 503, 504)
BACKOFF_MAX = 10.0
_OWN_HEADERS = {"x-vault-token", "x-vault-namespace", "x-vault-request", "user-agent", "content-type",
                "content-length", "host"}  # fmt: skip
# Idle keep-alive connections kept per client: as many as Terraform's default -parallelism and then some.
POOL_SIZE = 16


# --------------------------------------------------------------------------------------------- errors


class ApiError(Exception):
    """The service answered with an error status (or, for subclasses without a status, could not be
    used at all). `errors` holds the server's messages, which are the useful part for a user;
    `field_paths` the request fields a validation error is about (the body's `field_errors`: each a path
    such as `["public_keys", 1, "pem"]`), in the order the server gave them."""

    def __init__(
        self,
        status: int | None,
        errors: Sequence[str] = (),
        *,
        method: str | None = None,
        path: str | None = None,
        namespace: str | None = None,
        field_paths: Sequence[Sequence[str | int]] = (),
    ):
        self.status = status
        self.errors = [str(e) for e in errors] or ([f"HTTP {status}"] if status else ["request failed"])
        self.field_paths = [list(p) for p in field_paths]
        self.method = method
        self.path = path
        self.namespace = namespace
        super().__init__(self._text())

    def _text(self) -> str:
        where = []
        if self.status is not None:
            where.append(f"HTTP {self.status}")
        if self.method and self.path:
            where.append(f"{self.method} /v1/{self.path}")
        if self.namespace:
            where.append(f"namespace {self.namespace}")
        suffix = f" ({', '.join(where)})" if where else ""
        return "; ".join(self.errors) + suffix


class InvalidRequest(ApiError):
    """400: the request was malformed or failed validation; the messages name the field."""


class PermissionDenied(ApiError):
    """401/403: the token may not do this (or is not valid)."""


class NotFound(ApiError):
    """404: no such object (or path)."""


class Conflict(ApiError):
    """409/412: the object changed or exists in a way that conflicts with the request."""


class Unreachable(ApiError):
    """No answer at all: connection refused, TLS failure, timeout, after retries."""

    def __init__(self, message: str, *, method: str | None = None, path: str | None = None):
        super().__init__(None, [message], method=method, path=path)


class TokenRefused(PermissionDenied):
    """The server refused the configured token itself (`auth/token/lookup-self` answered 401/403)."""


class ChildTokenRefused(PermissionDenied):
    """The token is valid but may not create the provider's child token (`auth/token/create`)."""


class PlainHttpServer(Unreachable):
    """An `https://` address whose server answers in plain HTTP."""


class UntrustedCertificate(Unreachable):
    """The server's TLS certificate does not verify against the CA bundle in use."""


class EnterpriseRequired(ApiError):
    """The server does not report a Vault Enterprise version, so Enterprise-only objects are refused."""

    def __init__(self, message: str):
        super().__init__(None, [message])


_ERROR_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidRequest,
    401: PermissionDenied,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    412: Conflict,
}


# --------------------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class ClientSettings:
    """Everything the client needs, already resolved from provider config and environment."""

    address: str
    token: str = field(repr=False)
    namespace: str | None = None
    skip_tls_verify: bool = False
    ca_cert_file: str | None = None
    ca_cert_dir: str | None = None
    max_retries: int = DEFAULT_MAX_RETRIES
    headers: tuple[tuple[str, str], ...] = ()
    token_name: str = DEFAULT_TOKEN_NAME
    skip_child_token: bool = False
    child_token_ttl: int = DEFAULT_CHILD_TOKEN_TTL
    set_namespace_from_token: bool = True
    skip_get_vault_version: bool = False
    vault_version_override: str | None = None
    timeout: tuple[float, float] = DEFAULT_TIMEOUT
    # Seconds slept before the n-th retry of a request: none before the first, backoff_factor * 2**(n-1) after
    # (at most BACKOFF_MAX), or what a 503's Retry-After asks.
    backoff_factor: float = 0.5
    user_agent: str = "vaultguard-terraform-provider"


def join_namespace(*parts: str | None) -> str | None:
    """Join namespace paths (`ns1`, `team/`, `/a/b`) into `ns1/team/a/b`; None when all are empty."""
    cleaned = [p.strip("/") for p in parts if p and p.strip("/")]
    return "/".join(cleaned) or None


def path_segment(value: str) -> str:
    """Escape one path segment (a display name, a profile name) for use inside an API path."""
    return quote(value, safe="")


def is_enterprise_version(version: str) -> bool:
    """True when the semver build metadata (after `+`) contains `ent`, e.g. `2.1.0+ent`, `1.15.2+ent.hsm`."""
    _, plus, metadata = version.partition("+")
    return bool(plus) and "ent" in metadata


# --------------------------------------------------------------------------------------------- client


class VaultClient:
    """Keep-alive HTTP connections to one server, with one token and provider namespace. Safe to share between
    the gRPC worker threads of one provider process: each request takes an idle connection (or opens one)
    and gives it back once the answer is read."""

    def __init__(self, settings: ClientSettings):
        self.settings = settings
        self.address = settings.address.rstrip("/")
        self.namespace = join_namespace(settings.namespace)
        self._token = settings.token
        self._lock = threading.Lock()
        self._token_ready = False
        self._server_version: str | None = None
        self._connections = _Connections(self.address, settings)
        self._policy_names: dict[str, frozenset[str]] = {}  # by full namespace path (see policy_names)
        # Extra headers never replace one the client sets, in any spelling (HTTP header names are
        # case-insensitive): the token, the namespace, the body's type and length, the host.
        self._headers = {name: value for name, value in settings.headers if name.lower() not in _OWN_HEADERS}
        self._headers["User-Agent"] = settings.user_agent
        self._headers["X-Vault-Request"] = "true"

    # ---- public API -------------------------------------------------------------------------

    def read(self, path: str, *, namespace: str | None = None, root: bool = False) -> dict[str, Any] | None:
        """GET `path`; the response body (Vault envelope: `data`, `warnings`, ...) or None on 404.

        `root` sends the request to the root namespace whatever the provider's namespace is (for Vault's
        root-only endpoints such as `sys/activation-flags`)."""
        self.ensure_token()  # outside the try: a 404 while settling the token is no "not found"
        try:
            return self._call("GET", path, namespace=namespace, root=root)
        except NotFound:
            return None

    def write(
        self,
        path: str,
        data: Mapping[str, Any] | None = None,
        *,
        namespace: str | None = None,
        root: bool = False,
        representation: bool = False,
    ) -> dict[str, Any] | None:
        """PUT `data` as JSON to `path` (Vault treats PUT and POST alike); the body, or None on 204.
        `root` as for `read`. `representation` asks for the written object in the answer (RFC 7240
        `Prefer: return=representation`, DECISIONS.md#d68): a server that does not honour it answers as usual."""
        extra = {"Prefer": "return=representation"} if representation else None
        return self._call("PUT", path, namespace=namespace, root=root, json=dict(data or {}), headers=extra)

    def list(self, path: str, *, namespace: str | None = None) -> list[str]:
        """LIST `path`; the `keys`, or [] when there is nothing (Vault answers an empty list with 404)."""
        return list(self.list_with_info(path, namespace=namespace))

    def list_with_info(self, path: str, *, namespace: str | None = None) -> dict[str, dict[str, Any]]:
        """LIST `path`; each key (in the server's order) with its `key_info` entry, {} where the server
        gives none; an empty dict when there is nothing (Vault answers an empty list with 404)."""
        self.ensure_token()
        try:
            body = self._call("LIST", path, namespace=namespace)
        except NotFound:
            return {}
        data = (body or {}).get("data") or {}
        info = data.get("key_info") or {}
        return {str(key): dict(info.get(key) or {}) for key in data.get("keys") or []}

    def policy_names(self, namespace: str | None = None) -> frozenset[str]:
        """The names of the ACL policies in `namespace` (under the provider's), listed once per client.

        The provider makes a client each time Terraform configures it, that is for every Terraform run; within
        a run, policies change only through this client's own writes, which forget what was listed. So a
        refresh of many resources naming policies lists them once, not once per resource.
        """
        key = join_namespace(self.namespace, namespace) or ""
        names = self._policy_names.get(key)
        if names is None:
            names = frozenset(self.list("sys/policies/acl", namespace=namespace))
            self._policy_names[key] = names
        return names

    def delete(self, path: str, *, namespace: str | None = None) -> None:
        """DELETE `path`. An object that is already gone (404) counts as deleted."""
        self.ensure_token()
        try:
            self._call("DELETE", path, namespace=namespace)
        except NotFound:
            return None

    def require_enterprise(self) -> str | None:
        """Return the server version, or raise EnterpriseRequired when it is not an Enterprise build.

        Reads `sys/seal-status` (namespace header cleared) once per process, unless
        `skip_get_vault_version`, in which case `vault_version_override` stands for the server's version.
        With `skip_get_vault_version` and no override the user asked not to ask and gave nothing to check,
        so the check is skipped (None) rather than failing every apply (upstream fails, DECISIONS.md#d50).
        """
        if self.settings.skip_get_vault_version and not self.settings.vault_version_override:
            return None
        version = self.server_version()
        if version is None or not is_enterprise_version(version):
            shown = version or "unknown"
            raise EnterpriseRequired(
                "Enterprise Feature Required: this resource needs Vault Enterprise (a server version with "
                f"'+ent' build metadata); the server reports version {shown}."
            )
        return version

    def server_version(self) -> str | None:
        """The server's version string as `sys/seal-status` reports it (cached), or the override."""
        s = self.settings
        if s.skip_get_vault_version:
            return s.vault_version_override
        if self._server_version is None:
            body = self._send("GET", "sys/seal-status", namespace=None, token=self._token) or {}
            self._server_version = str(body.get("version") or "")
        return self._server_version or None

    def ensure_token(self) -> None:
        """Settle the token and default namespace once: lookup-self, then the child token (DECISIONS.md#d48)."""
        if self._token_ready:
            return
        with self._lock:
            if self._token_ready:
                return
            s = self.settings
            try:
                lookup = self._send("GET", "auth/token/lookup-self", namespace=None, token=s.token) or {}
            except PermissionDenied as exc:
                raise TokenRefused(exc.status, exc.errors, method=exc.method, path=exc.path) from exc
            token_namespace = join_namespace((lookup.get("data") or {}).get("namespace_path"))
            if self.namespace is None and s.set_namespace_from_token and token_namespace:
                self.namespace = token_namespace
            if not s.skip_child_token:
                # A child token lives in its parent's namespace, whatever the provider's namespace is.
                try:
                    created = self._send(
                        "POST",
                        "auth/token/create",
                        namespace=token_namespace,
                        token=s.token,
                        json={
                            "display_name": s.token_name,
                            "ttl": f"{s.child_token_ttl}s",
                            "explicit_max_ttl": f"{s.child_token_ttl}s",
                            "renewable": False,
                        },
                    )
                except PermissionDenied as exc:
                    raise ChildTokenRefused(
                        exc.status, exc.errors, method=exc.method, path=exc.path, namespace=exc.namespace
                    ) from exc
                child = ((created or {}).get("auth") or {}).get("client_token")
                if not child:
                    raise ApiError(
                        None,
                        ["auth/token/create answered without auth.client_token"],
                        method="POST",
                        path="auth/token/create",
                    )
                self._token = child
            self._token_ready = True

    def close(self) -> None:
        """Release pooled connections."""
        self._connections.close()

    # ---- plumbing ---------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        namespace: str | None,
        root: bool = False,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any] | None:
        self.ensure_token()
        if method not in ("GET", "LIST") and path.lstrip("/").startswith("sys/policies/"):
            self._policy_names.clear()
        target = None if root else join_namespace(self.namespace, namespace)
        return self._send(method, path, namespace=target, token=self._token, json=json, headers=headers)

    def _send(
        self,
        method: str,
        path: str,
        *,
        namespace: str | None,
        token: str,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any] | None:
        """One request, retried after a connection error or a 5xx answer (every method: the service commits
        each admin write in one transaction, so a 5xx means nothing was written). `headers`: this request's
        own, beside the client's."""
        import ssl

        path = path.lstrip("/")
        headers = {**self._headers, **(headers or {}), "X-Vault-Token": token}
        if namespace:
            headers["X-Vault-Namespace"] = namespace
        body = None
        if json is not None:
            body = _json_dumps(json)
            headers["Content-Type"] = "application/json"
        retries, wait = self.settings.max_retries, 0.0
        for attempt in range(retries + 1):
            if wait:
                time.sleep(wait)
            try:
                status, retry_after, content = self._connections.request(method, f"/v1/{path}", body, headers)
            except ssl.SSLError as exc:  # a TLS failure is not retried: it would fail the same way
                raise self._tls_failure(exc, method, path) from exc
            except OSError as exc:  # refused, reset, timed out, or an answer that is not HTTP
                if attempt == retries:
                    raise Unreachable(
                        f"could not reach {self.address}: {_root_cause(exc)}", method=method, path=path
                    ) from exc
                wait = _backoff(self.settings.backoff_factor, attempt + 1)
                continue
            if status not in RETRY_STATUSES or attempt == retries:
                break
            wait = retry_after if retry_after is not None else _backoff(self.settings.backoff_factor, attempt + 1)

        if status >= 400:
            error_type = _ERROR_BY_STATUS.get(status, ApiError)
            messages, field_paths = _error_body(content)
            raise error_type(status, messages, method=method, path=path, namespace=namespace, field_paths=field_paths)
        if status == 204 or not content:
            return None
        try:
            answer = _json_loads(content)
        except ValueError as exc:
            raise ApiError(
                status, ["the server answered with a body that is not JSON"], method=method, path=path
            ) from exc
        return answer if isinstance(answer, dict) else {"data": answer}

    def _tls_failure(self, exc: BaseException, method: str, path: str) -> Unreachable:
        """The TLS handshake failed: an untrusted certificate, a plain-HTTP server, or something else."""
        import ssl

        cause = _root_cause(exc)
        if any(isinstance(e, ssl.SSLCertVerificationError) for e in _causes(exc)):
            return UntrustedCertificate(
                f"the certificate of {self.address} is not trusted: {cause}", method=method, path=path
            )
        if self._answers_plain_http():
            return PlainHttpServer(f"{self.address} answered in plain HTTP, not TLS", method=method, path=path)
        return Unreachable(f"TLS error talking to {self.address}: {cause}", method=method, path=path)

    def _answers_plain_http(self) -> bool:
        """Whether the https:// address answers a plain HTTP request (OpenSSL's wording for that case
        varies between versions, so ask the server rather than parse the error)."""
        import http.client

        where = urlsplit(self.address)
        connection = http.client.HTTPConnection(where.hostname or "", where.port or 443, timeout=3.0)
        try:
            connection.request("GET", where.path.rstrip("/") + "/v1/sys/health")
            connection.getresponse().read()
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()
        return True


def _json_dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _json_loads(content: bytes) -> Any:
    return json.loads(content)


def _backoff(factor: float, retry: int) -> float:
    """Seconds to wait before the `retry`-th retry (1, 2, ...): none before the first."""
    return 0.0 if retry <= 1 else min(BACKOFF_MAX, factor * 2 ** (retry - 1))


class _Connections:
    """The keep-alive connections of one client to its server (directly, or through the proxy the
    environment names), and the TLS settings they use."""

    def __init__(self, address: str, settings: ClientSettings):
        where = urlsplit(address)
        self.https = where.scheme == "https"
        self.host = where.hostname or ""
        self.port = where.port or (443 if self.https else 80)
        self.base = where.path.rstrip("/")  # an address may put the API under a path
        self.connect_timeout, self.read_timeout = settings.timeout
        self.settings = settings
        self._tls: ssl.SSLContext | None = None  # made with the first connection: it reads the CA files
        # Proxies and CA bundles from the environment must not override explicit TLS settings.
        explicit_tls = settings.skip_tls_verify or settings.ca_cert_file or settings.ca_cert_dir
        self.proxy = None if explicit_tls else _proxy_from_environment(where.scheme, self.host)
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def request(
        self, method: str, target: str, body: bytes | None, headers: Mapping[str, str]
    ) -> tuple[int, float | None, bytes]:
        """Send one request on an idle connection (or a new one): (status, Retry-After seconds, body).
        Raises OSError (ssl.SSLError for TLS) when no answer came."""
        import http.client

        connection, reused = self._take()
        url = self.base + target
        if self.proxy is not None and not self.https:
            # A plain HTTP proxy is sent the whole URL, and its own headers with every request.
            url = f"http://{self.host}:{self.port}{url}"
            headers = {**headers, **self.proxy[2]}
        try:
            try:
                connection.request(method, url, body=body, headers=headers)
                response = connection.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                if not reused:
                    raise
                # The server closed the idle connection as the request went out: once more, on a new one.
                connection.close()
                connection, reused = self._new(), False
                connection.request(method, url, body=body, headers=headers)
                response = connection.getresponse()
            content = response.read()
        except http.client.HTTPException as exc:
            connection.close()
            raise ConnectionError(f"the server's answer is not HTTP: {exc!r}") from exc
        except BaseException:
            connection.close()
            raise
        if response.will_close:
            connection.close()
        else:
            self._give_back(connection)
        return response.status, _retry_after(response), content

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _take(self) -> tuple[http.client.HTTPConnection, bool]:
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                return self._new(), False
            if not _dropped(connection):
                return connection, True
            connection.close()

    def _give_back(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < POOL_SIZE:
                self._idle.append(connection)
                return
        connection.close()

    def _new(self) -> http.client.HTTPConnection:
        import http.client

        host, port = (self.proxy[0], self.proxy[1]) if self.proxy else (self.host, self.port)
        if self.https:
            if self._tls is None:
                self._tls = _tls_context(self.settings)
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, port, timeout=self.connect_timeout, context=self._tls
            )
            if self.proxy:
                connection.set_tunnel(self.host, self.port, headers=self.proxy[2])
        else:
            connection = http.client.HTTPConnection(host, port, timeout=self.connect_timeout)
        connection.connect()
        assert connection.sock is not None
        connection.sock.settimeout(self.read_timeout)
        return connection


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle keep-alive connection was closed by the server (it then reads as ready: EOF)."""
    import select

    sock = connection.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _retry_after(response: http.client.HTTPResponse) -> float | None:
    """The seconds a 503 answer's Retry-After asks to wait (a number of seconds), or None."""
    value = response.getheader("Retry-After")
    if response.status != 503 or not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _tls_context(settings: ClientSettings) -> ssl.SSLContext:
    """How the server's certificate is checked: not at all (`skip_tls_verify`), against the given CA file or
    directory, or against the system's CA certificates."""
    import ssl

    if settings.skip_tls_verify:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    try:
        if settings.ca_cert_file:
            return ssl.create_default_context(cafile=settings.ca_cert_file)
        if settings.ca_cert_dir:
            return ssl.create_default_context(capath=settings.ca_cert_dir)
    except OSError as exc:
        where = settings.ca_cert_file or settings.ca_cert_dir
        raise OSError(f"cannot read the CA certificates in {where}: {exc.strerror or exc}") from exc
    return ssl.create_default_context()


def _proxy_from_environment(scheme: str, host: str) -> tuple[str, int, dict[str, str]] | None:
    """The proxy that HTTPS_PROXY / HTTP_PROXY / ALL_PROXY name for this server, unless NO_PROXY exempts
    it: (host, port, headers for the proxy). None without one."""
    if not any(name.lower().endswith("_proxy") for name in os.environ):
        return None
    import urllib.request

    proxies = urllib.request.getproxies_environment()
    if urllib.request.proxy_bypass_environment(host, proxies):
        return None
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy:
        return None
    where = urlsplit(proxy if "://" in proxy else "http://" + proxy)
    headers = {}
    if where.username is not None:
        import base64

        credentials = f"{unquote(where.username)}:{unquote(where.password or '')}".encode()
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(credentials).decode()
    return where.hostname or "", where.port or 80, headers


def _error_body(content: bytes) -> tuple[list[str], list[list[str | int]]]:
    """The messages of an error response (Vault's `errors`), and the field paths of its `field_errors`."""
    try:
        body = _json_loads(content)
    except ValueError:
        text = content.decode(errors="replace").strip()
        return ([text[:500]] if text else []), []
    if not isinstance(body, dict) or not isinstance(body.get("errors"), list):
        return [], []
    paths = []
    for about in body.get("field_errors") or []:
        field = about.get("field") if isinstance(about, dict) else None
        if isinstance(field, list) and field and all(isinstance(s, str | int) for s in field):
            paths.append(field)
    return [str(e) for e in body["errors"]], paths


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and the exceptions it wraps (urllib3's `reason`, then `__cause__` and `__context__`), outermost
    first."""
    chain = [exc]
    while True:
        seen = chain[-1]
        nxt = getattr(seen, "reason", None) or seen.__cause__ or seen.__context__
        if nxt is None or not isinstance(nxt, BaseException) or nxt in chain:
            return chain
        chain.append(nxt)


def _root_cause(exc: BaseException) -> str:
    """The innermost exception's message: 'Connection refused' rather than urllib3's pool wording."""
    seen = _causes(exc)[-1]
    return str(seen) or type(seen).__name__
