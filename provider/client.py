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

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:  # pragma: no cover
    import requests

# `requests` is imported where a session is made, not here: the provider imports this module before its
# handshake with Terraform, and requests alone would cost ~100 ms of every provider start.

DEFAULT_MAX_RETRIES = 2
DEFAULT_CHILD_TOKEN_TTL = 1200
DEFAULT_TOKEN_NAME = "terraform"
# (connect, read) seconds; Vault's Go client defaults to 60 s for a whole request.
DEFAULT_TIMEOUT = (10.0, 60.0)
RETRY_STATUSES = (500, 502, 503, 504)


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
    # urllib3 sleeps backoff_factor * 2**(n-1) seconds before the n-th consecutive retry (first is 0).
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
    """A requests.Session bound to one server, token and provider namespace. Safe to share between the
    gRPC worker threads of one provider process."""

    def __init__(self, settings: ClientSettings):
        self.settings = settings
        self.address = settings.address.rstrip("/")
        self.namespace = join_namespace(settings.namespace)
        self._token = settings.token
        self._lock = threading.Lock()
        self._token_ready = False
        self._server_version: str | None = None
        self.session = self._make_session()

    def _make_session(self) -> requests.Session:
        import requests
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry

        s = self.settings
        retry = Retry(
            total=s.max_retries,
            connect=s.max_retries,
            read=s.max_retries,
            status=s.max_retries,
            other=0,
            redirect=0,
            # Like Vault's Go client, every method is retried: the service commits each admin write in
            # one transaction, so a 5xx means nothing was written.
            allowed_methods=None,
            status_forcelist=RETRY_STATUSES,
            backoff_factor=s.backoff_factor,
            backoff_max=10,
            raise_on_status=False,
            respect_retry_after_header=True,
        )
        session = requests.Session()
        adapter = HTTPAdapter(max_retries=retry, pool_maxsize=16)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        # Extra headers first, so they can never replace the token or namespace set per request.
        session.headers.update({name: value for name, value in s.headers})
        session.headers["User-Agent"] = s.user_agent
        session.headers["X-Vault-Request"] = "true"
        if s.skip_tls_verify:
            session.verify = False
        elif s.ca_cert_file:
            session.verify = s.ca_cert_file
        elif s.ca_cert_dir:
            session.verify = s.ca_cert_dir
        # Proxies and CA bundles from REQUESTS_CA_BUNDLE etc. must not override explicit TLS settings.
        session.trust_env = not (s.skip_tls_verify or s.ca_cert_file or s.ca_cert_dir)
        return session

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
        self, path: str, data: Mapping[str, Any] | None = None, *, namespace: str | None = None, root: bool = False
    ) -> dict[str, Any] | None:
        """PUT `data` as JSON to `path` (Vault treats PUT and POST alike); the body, or None on 204.
        `root` as for `read`."""
        return self._call("PUT", path, namespace=namespace, root=root, json=dict(data or {}))

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
        self.session.close()

    # ---- plumbing ---------------------------------------------------------------------------

    def _call(
        self, method: str, path: str, *, namespace: str | None, root: bool = False, json: Any = None
    ) -> dict[str, Any] | None:
        self.ensure_token()
        target = None if root else join_namespace(self.namespace, namespace)
        return self._send(method, path, namespace=target, token=self._token, json=json)

    def _send(
        self, method: str, path: str, *, namespace: str | None, token: str, json: Any = None
    ) -> dict[str, Any] | None:
        import requests

        path = path.lstrip("/")
        headers = {"X-Vault-Token": token}
        if namespace:
            headers["X-Vault-Namespace"] = namespace
        try:
            response = self.session.request(
                method,
                f"{self.address}/v1/{path}",
                headers=headers,
                json=json,
                timeout=self.settings.timeout,
                allow_redirects=False,
            )
        except requests.exceptions.SSLError as exc:
            raise self._tls_failure(exc, method, path) from exc
        except requests.exceptions.RequestException as exc:
            raise Unreachable(
                f"could not reach {self.address}: {_root_cause(exc)}", method=method, path=path
            ) from exc

        if response.status_code >= 400:
            error_type = _ERROR_BY_STATUS.get(response.status_code, ApiError)
            messages, field_paths = _error_body(response)
            raise error_type(
                response.status_code, messages, method=method, path=path, namespace=namespace, field_paths=field_paths
            )
        if response.status_code == 204 or not response.content:
            return None
        try:
            body = response.json()
        except ValueError as exc:
            raise ApiError(
                response.status_code,
                ["the server answered with a body that is not JSON"],
                method=method,
                path=path,
            ) from exc
        return body if isinstance(body, dict) else {"data": body}


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
        import requests

        try:
            requests.get(
                "http://" + self.address.removeprefix("https://") + "/v1/sys/health",
                timeout=(3.0, 3.0),
                allow_redirects=False,
            )
        except requests.exceptions.RequestException:
            return False
        return True


def _error_body(response: requests.Response) -> tuple[list[str], list[list[str | int]]]:
    """The messages of an error response (Vault's `errors`), and the field paths of its `field_errors`."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
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
