"""A development OAuth issuer: `vaultguard dev-issuer` and `vaultguard token mint`.

FOR DEVELOPMENT ONLY. This issuer authenticates nobody: any caller that reaches its token endpoint gets a
signed access token for whatever subject, actor and `authorization_details` it asks for. It exists so that
users can exercise a vaultguard setup (profiles, aliases, registrations, policies, RAR) without an IdP.

What it serves (stdlib `http.server`, bound to 127.0.0.1 by default):

- `GET /.well-known/openid-configuration` (also `/.well-known/oauth-authorization-server`): discovery.
- `GET /.well-known/jwks.json`: the public keys (RS256 and ES256), each with `kid`, `alg`, `use: sig`.
- `POST /token`: `grant_type=client_credentials` (form or JSON) → an RFC 9068 access token (`typ: at+jwt`,
  a fresh `jti`), with optional `actor` (→ `act.sub`), `authorization_details` (RFC 9396), `audience`, `ttl`.
- `POST /rotate`: a new RS256 + ES256 key pair is published and used for signing; the previous `--keep`
  generations stay in the JWKS so tokens they signed keep verifying during the overlap.

Keys are generated at start, or loaded from (and saved to) `--key-dir` so a restart keeps them: one PKCS#8
PEM file per key (usable with `vaultguard token mint --key FILE`) and a `keys.json` manifest.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import secrets
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

BANNER = "DEV ISSUER: for development only"
MAX_TTL = 24 * 3600  # DECISIONS.md#d4: vaultguard rejects tokens living longer than 24 h
DEFAULT_TTL = 300
DEFAULT_AUDIENCE = "vaultguard"
GENERATION_ALGS = ("RS256", "ES256")  # one key of each per generation
MINT_ALGS = ("RS256", "ES256", "EdDSA")
RAR_TYPE = "vault:path_access"
MANIFEST = "keys.json"
MAX_BODY = 64 * 1024

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class DevIssuerError(ValueError):
    """A user error (bad input, key, file); the message is one line, fit for `Error: ...`."""


# --- claims and signing ---------------------------------------------------------------------------------------------


def parse_ttl(value: Any) -> int:
    """Seconds from 300, "300", "30s", "5m", "1h" or "1d"; 1 s to 24 h (DECISIONS.md#d4)."""
    if isinstance(value, bool):
        raise DevIssuerError(f"invalid ttl {value!r}")
    if isinstance(value, int):
        seconds = value
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise DevIssuerError(f"invalid ttl {str(value)[:40]!r}: use seconds or a duration like 30s, 5m, 1h")
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise DevIssuerError("ttl must be positive")
    if seconds > MAX_TTL:
        raise DevIssuerError(f"ttl {seconds} s exceeds 24 h (vaultguard rejects longer-lived tokens)")
    return seconds


def parse_authorization_details(value: Any) -> list[dict[str, Any]] | None:
    """RFC 9396: a JSON array of objects, given as a list or as JSON text; None/"" means absent."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise DevIssuerError(f"authorization_details is not valid JSON: {exc}") from None
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise DevIssuerError("authorization_details must be a JSON array of objects")
    return value


def claims(
    *,
    issuer: str,
    subject: str,
    audience: str | list[str] = DEFAULT_AUDIENCE,
    ttl: int = DEFAULT_TTL,
    client_id: str | None = None,
    actor: str | None = None,
    authorization_details: list[dict[str, Any]] | None = None,
    now: int | None = None,
) -> dict[str, Any]:
    """An RFC 9068 claim set: iss, sub, aud, exp, iat, jti, client_id (+ act.sub, authorization_details)."""
    if not subject:
        raise DevIssuerError("a subject is required")
    ttl = parse_ttl(ttl)
    now = int(time.time()) if now is None else now
    payload: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "exp": now + ttl,
        "iat": now,
        "nbf": now,
        "jti": uuid.uuid4().hex,
        "client_id": client_id or subject,
    }
    if actor:
        payload["act"] = {"sub": actor}
    if authorization_details is not None:
        payload["authorization_details"] = authorization_details
    return payload


def algorithm_for_key(key: Any) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1":
        return "ES256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    raise DevIssuerError("unsupported key: use RSA (2048 bits or more), EC P-256 or Ed25519")


def check_key(key: Any, alg: str) -> None:
    """The key can sign `alg` (one of MINT_ALGS) and vaultguard would accept its public half (DECISIONS.md#d22)."""
    if alg not in MINT_ALGS:
        raise DevIssuerError(f"unsupported algorithm {alg!r}: use one of {', '.join(MINT_ALGS)}")
    natural = algorithm_for_key(key)
    if natural != alg:
        raise DevIssuerError(f"the key is a {_key_kind(key)} key and cannot sign {alg} (it signs {natural})")
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < 2048:
        raise DevIssuerError(f"RSA key of {key.key_size} bits: vaultguard requires 2048 bits or more")


def sign(payload: Mapping[str, Any], key: Any, alg: str, kid: str) -> str:
    """A compact JWS with header {alg, typ: at+jwt, kid}."""
    return jwt.encode(dict(payload), key, algorithm=alg, headers={"typ": "at+jwt", "kid": kid})


def load_private_key(path: str | Path) -> Any:
    """A private key from a PEM (PKCS#8 or traditional) file without a password."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DevIssuerError(f"cannot read key file {str(path)!r}: {exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise DevIssuerError(f"key file {str(path)!r} is encrypted; give an unencrypted private key") from None
    except Exception:  # cryptography raises ValueError or UnsupportedAlgorithm for what is not a key
        raise DevIssuerError(f"key file {str(path)!r} does not hold a PEM private key") from None
    algorithm_for_key(key)
    return key


def mint(
    *,
    key_file: str | Path,
    issuer: str,
    kid: str,
    subject: str,
    actor: str | None = None,
    audience: str = DEFAULT_AUDIENCE,
    authorization_details: str | None = None,
    ttl: str | int = DEFAULT_TTL,
    alg: str | None = None,
    client_id: str | None = None,
) -> str:
    """`vaultguard token mint`: a token signed offline. `authorization_details` is JSON text or @FILE."""
    key = load_private_key(key_file)
    alg = alg or algorithm_for_key(key)
    check_key(key, alg)
    if not kid:
        raise DevIssuerError("--kid must not be empty")
    if not issuer:
        raise DevIssuerError("--issuer must not be empty")
    details_text = authorization_details
    if details_text is not None and details_text.startswith("@"):
        try:
            details_text = Path(details_text[1:]).read_text()
        except OSError as exc:
            raise DevIssuerError(f"cannot read {details_text[1:]!r}: {exc.strerror or exc}") from None
    details = parse_authorization_details(details_text)
    payload = claims(
        issuer=issuer,
        subject=subject,
        audience=audience,
        ttl=parse_ttl(ttl),
        client_id=client_id,
        actor=actor,
        authorization_details=details,
    )
    return sign(payload, key, alg, kid)


def _key_kind(key: Any) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"EC {key.curve.name}"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "Ed25519"
    return type(key).__name__


# --- keys -----------------------------------------------------------------------------------------------------------


@dataclass
class SigningKey:
    kid: str
    alg: str
    key: Any
    created: int

    def public_jwk(self) -> dict[str, Any]:
        public = self.key.public_key()
        if self.alg.startswith("RS"):
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        elif self.alg.startswith("ES"):
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
        jwk.pop("key_ops", None)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def generate_key(alg: str) -> SigningKey:
    if alg == "RS256":
        key: Any = rsa.generate_private_key(65537, 2048)
    elif alg == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = ed25519.Ed25519PrivateKey.generate()
    kid = f"dev-{alg.lower()}-{secrets.token_hex(4)}"
    return SigningKey(kid=kid, alg=alg, key=key, created=int(time.time()))


class KeyRing:
    """Generations of signing keys, newest first; the newest signs, `keep` older ones stay published."""

    def __init__(self, key_dir: str | Path | None = None, keep: int = 1):
        if keep < 0:
            raise DevIssuerError("--keep must be 0 or more")
        self.keep = keep
        self.key_dir = Path(key_dir) if key_dir else None
        self._lock = threading.Lock()
        self.generations: list[list[SigningKey]] = []
        if self.key_dir is not None and (self.key_dir / MANIFEST).exists():
            self._load()
        else:
            self.rotate()

    def rotate(self) -> list[str]:
        """Publish a new generation; returns the kids now published."""
        generation = [generate_key(alg) for alg in GENERATION_ALGS]
        with self._lock:
            everything = [generation, *self.generations]
            self.generations = everything[: self.keep + 1]
            self._save([key for gen in everything[self.keep + 1 :] for key in gen])
            return [k.kid for gen in self.generations for k in gen]

    def signing_key(self, alg: str = "RS256") -> SigningKey:
        with self._lock:
            for key in self.generations[0]:
                if key.alg == alg:
                    return key
        raise DevIssuerError(f"unsupported alg {alg!r}: use one of {', '.join(GENERATION_ALGS)}")

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            return {"keys": [key.public_jwk() for gen in self.generations for key in gen]}

    def _save(self, dropped: list[SigningKey] | None = None) -> None:
        if self.key_dir is None:
            return
        self.key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        manifest = {"generations": [], "note": BANNER}
        for gen in self.generations:
            entries = []
            for key in gen:
                path = self.key_dir / f"{key.kid}.pem"
                if not path.exists():
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                    with os.fdopen(fd, "wb") as out:
                        out.write(key.pem())
                entries.append({"kid": key.kid, "alg": key.alg, "file": path.name, "created": key.created})
            manifest["generations"].append(entries)
        for stale in dropped or []:  # only files this ring wrote; nothing else in the directory is touched
            (self.key_dir / f"{stale.kid}.pem").unlink(missing_ok=True)
        tmp = self.key_dir / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
        tmp.replace(self.key_dir / MANIFEST)

    def _load(self) -> None:
        assert self.key_dir is not None
        path = self.key_dir / MANIFEST
        try:
            manifest = json.loads(path.read_text())
            generations = []
            for entries in manifest["generations"]:
                gen = []
                for entry in entries:
                    key = load_private_key(self.key_dir / entry["file"])
                    check_key(key, entry["alg"])
                    gen.append(SigningKey(str(entry["kid"]), entry["alg"], key, int(entry.get("created", 0))))
                generations.append(gen)
        except DevIssuerError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DevIssuerError(f"cannot load keys from {str(path)!r}: {exc}") from None
        if not generations or {k.alg for k in generations[0]} != set(GENERATION_ALGS):
            raise DevIssuerError(f"{str(path)!r} has no current RS256 and ES256 keys")
        self.generations = generations[: self.keep + 1]


# --- the HTTP issuer ------------------------------------------------------------------------------------------------


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


class DevIssuer:
    """The issuer served over HTTP in a background thread (`start`/`stop`) or in the foreground (`serve`)."""

    def __init__(
        self,
        listen: str = "127.0.0.1:0",
        *,
        issuer: str | None = None,
        key_dir: str | Path | None = None,
        keep: int = 1,
        audience: str = DEFAULT_AUDIENCE,
        default_ttl: int = DEFAULT_TTL,
        log: bool = True,
    ):
        self.log = log
        host, port = _split_listen(listen)
        self.keys = KeyRing(key_dir, keep)
        self.audience = audience
        self.default_ttl = parse_ttl(default_ttl)
        self.httpd = _Server((host, port), _handler(self))
        bound_host, bound_port = self.httpd.server_address[:2]
        shown = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
        self.url = f"http://{shown}:{bound_port}"
        self.issuer = (issuer or self.url).rstrip("/")
        self._thread: threading.Thread | None = None

    @property
    def jwks_url(self) -> str:
        return self.url + "/.well-known/jwks.json"

    @property
    def token_url(self) -> str:
        return self.url + "/token"

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_url,
            "token_endpoint": self.token_url,
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["none"],
            "authorization_details_types_supported": [RAR_TYPE],
            "id_token_signing_alg_values_supported": list(GENERATION_ALGS),
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
        }

    def issue(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The token endpoint's answer for request parameters (already parsed from form or JSON)."""
        grant = params.get("grant_type")
        if grant != "client_credentials":
            raise OAuthError("unsupported_grant_type", "only grant_type=client_credentials is supported")
        client_id = params.get("client_id")
        if not isinstance(client_id, str) or not client_id:
            raise OAuthError("invalid_client", "client_id is required", 401)
        subject = params.get("subject") or client_id
        actor = params.get("actor") or None
        for name, value in (("subject", subject), ("actor", actor)):
            if value is not None and not isinstance(value, str):
                raise OAuthError("invalid_request", f"{name} must be a string")
        audience = params.get("audience") or params.get("resource") or self.audience
        if isinstance(audience, list):
            if not audience or not all(isinstance(a, str) and a for a in audience):
                raise OAuthError("invalid_request", "audience must be a string or a list of strings")
            audience = audience[0] if len(audience) == 1 else audience
        elif not isinstance(audience, str):
            raise OAuthError("invalid_request", "audience must be a string or a list of strings")
        alg = params.get("alg") or "RS256"
        try:
            details = parse_authorization_details(params.get("authorization_details"))
        except DevIssuerError as exc:
            raise OAuthError("invalid_authorization_details", str(exc)) from None
        try:
            ttl = parse_ttl(params.get("ttl") or self.default_ttl)
            key = self.keys.signing_key(alg)
            payload = claims(
                issuer=self.issuer,
                subject=subject,
                audience=audience,
                ttl=ttl,
                client_id=client_id,
                actor=actor,
                authorization_details=details,
            )
        except DevIssuerError as exc:
            raise OAuthError("invalid_request", str(exc)) from None
        answer: dict[str, Any] = {
            "access_token": sign(payload, key.key, key.alg, key.kid),
            "token_type": "Bearer",
            "expires_in": ttl,
        }
        if details is not None:
            answer["authorization_details"] = details  # RFC 9396 §7
        return answer

    def start(self) -> DevIssuer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> DevIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def banner(self) -> str:
        lines = [
            "=" * 72,
            f"{BANNER}. It authenticates nobody: never use it in production.",
            f"  issuer:          {self.issuer}",
            f"  discovery:       {self.url}/.well-known/openid-configuration",
            f"  JWKS URL:        {self.jwks_url}",
            f"  token endpoint:  {self.token_url}",
            f"  keys:            {', '.join(k['kid'] for k in self.keys.jwks()['keys'])}",
            "=" * 72,
        ]
        host = self.httpd.server_address[0]
        if host not in ("127.0.0.1", "::1", "localhost"):
            lines.insert(1, f"WARNING: listening on {host}, not loopback: anyone who reaches it gets tokens.")
        return "\n".join(lines)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def _split_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", listen
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        raise DevIssuerError(f"invalid --listen {listen!r}: use HOST:PORT") from None
    if not 0 <= number <= 65535:
        raise DevIssuerError(f"invalid port in --listen {listen!r}")
    return host, number


def _handler(issuer: DevIssuer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "vaultguard-dev-issuer"

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = urllib.parse.urlsplit(self.path).path
            if path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
                self._json(200, issuer.discovery())
            elif path == "/.well-known/jwks.json":
                self._json(200, issuer.keys.jwks())
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:  # noqa: N802
            path = urllib.parse.urlsplit(self.path).path
            try:
                if path == "/token":
                    self._json(200, issuer.issue(self._params()), {"Cache-Control": "no-store"})
                elif path == "/rotate":
                    self._json(200, {"keys": issuer.keys.rotate()})
                else:
                    self._json(404, {"error": "not_found"})
            except OAuthError as exc:
                self._json(exc.status, {"error": exc.error, "error_description": exc.description})

        def _params(self) -> dict[str, Any]:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                raise OAuthError("invalid_request", "bad Content-Length") from None
            if length < 0 or length > MAX_BODY:
                raise OAuthError("invalid_request", "request body too large")
            raw = self.rfile.read(length)
            kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise OAuthError("invalid_request", "the body is not UTF-8") from None
            if kind == "application/json":
                try:
                    params = json.loads(text or "{}")
                except ValueError:
                    raise OAuthError("invalid_request", "the body is not valid JSON") from None
                if not isinstance(params, dict):
                    raise OAuthError("invalid_request", "the JSON body must be an object")
            else:
                params = {}
                for name, value in urllib.parse.parse_qsl(text, keep_blank_values=True):
                    if name == "audience" and name in params:
                        previous = params[name]
                        params[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
                    else:
                        params[name] = value
            if "client_id" not in params:
                params.update(self._basic_client())
            return params

        def _basic_client(self) -> dict[str, str]:
            auth = self.headers.get("Authorization") or ""
            if auth[:6].lower() != "basic ":
                return {}
            import base64
            import binascii

            try:
                user = base64.b64decode(auth[6:].strip(), validate=True).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                return {}
            return {"client_id": urllib.parse.unquote(user)} if user else {}

        def _json(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's naming
            if issuer.log:
                sys.stderr.write(f"dev-issuer: {self.address_string()} {format % args}\n")

    return Handler


def serve(listen: str, *, issuer: str | None, key_dir: str | None, keep: int, audience: str, ttl: str) -> None:
    """`vaultguard dev-issuer`: serve in the foreground until interrupted."""
    dev = DevIssuer(listen, issuer=issuer, key_dir=key_dir, keep=keep, audience=audience, default_ttl=parse_ttl(ttl))
    print(dev.banner(), flush=True)
    try:
        dev.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        dev.httpd.server_close()
