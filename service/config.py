"""Server settings: one object, built from dev-mode flags or from an HCL config file.

Outside dev mode the settings refuse unsafe combinations (plain HTTP on a non-loopback address without an
explicit `tls_disable`, a generated root token) so a production server cannot start insecure by accident.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import ssl
from dataclasses import asdict, dataclass, field
from pathlib import Path

import hcl

from .audit.devices import DEVICE_TYPES, DeviceError, device_from_settings
from .authn.jwks_fetch_policy import FetchPolicy, parse_networks
from .storage.files import private_dir
from .storage.sealing import ENV_KEYRING, generate_hint

DEFAULT_LISTEN = "127.0.0.1:8200"
DEFAULT_REPLICA_PROPAGATION_BOUND = 1.0  # seconds (DECISIONS.md#d54)
MAX_REPLICA_PROPAGATION_BOUND = 60.0
# The storage engines the service runs on, with an optional SQLAlchemy driver (`postgresql+psycopg`).
_STORAGE_SCHEME = re.compile(r"(sqlite|postgres|postgresql)(\+\w+)?")


class ConfigError(ValueError):
    """A configuration problem, phrased for the operator."""


@dataclass
class Settings:
    dev: bool = False
    listen: str = DEFAULT_LISTEN
    storage_url: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_disable: bool = False
    workers: int = 1
    max_request_size: int = 32 * 1024 * 1024
    max_token_header_size: int = 8192  # DECISIONS.md#d17; -1 disables the check
    initial_root_token_file: str = ""
    dev_root_token: str = ""
    # The gRPC decision API (`grpc_listener { ... }` / `--grpc-listen`); off when empty.
    grpc_listen: str = ""
    grpc_tls_cert_file: str = ""
    grpc_tls_key_file: str = ""
    grpc_tls_disable: bool = False
    # Audit devices, e.g. [{"type": "file", "path": "/var/log/vaultguard/audit.log", "mode": 384,
    # "fsync": False}, {"type": "stdout"}]; see docs/operator.md.
    audit_devices: list = field(default_factory=list)
    # PostgreSQL: how long a change made through another replica may go unseen (seconds; 0: ask the database
    # on every request). Changes made through this server are seen on its next request regardless.
    replica_propagation_bound: float = DEFAULT_REPLICA_PROPAGATION_BOUND
    # The newest generation this server's workers share (storage.changes); set by the server at start.
    local_changes_file: str = ""
    # The key-encryption keys that wrap the data key sealing secret values (storage.sealing); outside dev
    # mode this or the VAULTGUARD_ENCRYPTION_KEY environment variable is required.
    encryption_key_file: str = ""
    # Internal networks (CIDR) a profile's jwks_uri may resolve to outside dev mode; see docs/security.md.
    jwks_allowed_networks: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert_file else "http"

    @property
    def address(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"{self.scheme}://{host}:{self.port}"

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, text: str) -> Settings:
        return cls(**json.loads(text))

    def check(self) -> None:
        """Refuse values that are invalid, and unsafe ones outside dev mode."""
        try:
            port = self.port
        except (ValueError, IndexError):
            raise ConfigError(f'listener address "{self.listen}" must be HOST:PORT') from None
        if not 0 < port < 65536:
            raise ConfigError(f'listener address "{self.listen}": port must be 1-65535')
        if not self.storage_url:
            raise ConfigError("storage: a storage URL or SQLite path is required")
        scheme = self.storage_url.partition("://")[0]
        if not _STORAGE_SCHEME.fullmatch(scheme):
            # Only the scheme is shown: the rest of a URL may hold a password.
            raise ConfigError(f"storage: unsupported URL scheme {scheme!r}; use sqlite:///PATH or postgresql://HOST/DB")
        if self.workers < 1 or self.workers > 64:
            raise ConfigError("workers must be between 1 and 64")
        _check_tls_pair("listener", self.tls_cert_file, self.tls_key_file)
        _check_audit_devices(self.audit_devices)
        _check_grpc_listener(self)
        if self.dev:
            return  # the dev server creates its key file
        if self.encryption_key_file and not Path(self.encryption_key_file).is_file():
            raise ConfigError(f"encryption_key_file {self.encryption_key_file!r} does not exist")
        if not self.encryption_key_file and not os.environ.get(ENV_KEYRING):
            raise ConfigError(
                "encryption_key_file: secrets are encrypted at rest and production needs the key-encryption key: "
                f"set encryption_key_file (or {ENV_KEYRING}); {generate_hint()}"
            )
        if not self.tls_cert_file and not self.tls_disable and not _is_loopback(self.host):
            raise ConfigError(
                f'listener "{self.listen}" is not loopback: configure tls_cert_file/tls_key_file, '
                'or set tls_disable = true if TLS is terminated in front of the server'
            )


def _check_audit_devices(devices: list) -> None:
    kinds = [d.get("type") for d in devices]
    for kind in set(kinds):
        if kinds.count(kind) > 1:
            raise ConfigError(f'audit: only one "{kind}" device may be configured')
    for spec in devices:
        try:
            device_from_settings(spec)
        except DeviceError as exc:
            raise ConfigError(str(exc)) from None
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f'audit "{spec.get("type")}": invalid settings: {exc}') from None


def audit_device_for_flag(value: str) -> dict:
    """`--audit-log PATH` (dev mode): a file device, or stdout for "-"."""
    if value == "-":
        return {"type": "stdout"}
    return {"type": "file", "path": str(Path(value).resolve()), "mode": 0o600, "fsync": False}


def _check_grpc_listener(settings: Settings) -> None:
    """HOST:PORT apart from the HTTP port, TLS files given together; outside dev mode, plaintext only on
    loopback or with an explicit tls_disable (callers send an admin token in the metadata)."""
    address = settings.grpc_listen
    if not address:
        return
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f'grpc_listener address "{address}" must be HOST:PORT with a port 1-65535')
    if int(port) == settings.port:
        raise ConfigError(f'grpc_listener address "{address}" uses the port of the HTTP listener')
    _check_tls_pair("grpc_listener", settings.grpc_tls_cert_file, settings.grpc_tls_key_file)
    plaintext = not settings.grpc_tls_cert_file and not settings.grpc_tls_disable
    if not settings.dev and plaintext and not _is_loopback(host):
        raise ConfigError(
            f'grpc_listener "{address}" is not loopback: configure tls_cert_file/tls_key_file, '
            "or set tls_disable = true if TLS is terminated in front of the server"
        )


def _check_tls_pair(listener: str, cert_file: str, key_file: str) -> None:
    """Both files or neither; when given, they must load as a PEM certificate chain and its private key, so a
    listener that could not serve TLS stops the start with its name, not a worker's traceback."""
    if bool(cert_file) != bool(key_file):
        raise ConfigError(f"{listener}: tls_cert_file and tls_key_file must be given together")
    if not cert_file:
        return
    for name, value in (("tls_cert_file", cert_file), ("tls_key_file", key_file)):
        if not Path(value).is_file():
            raise ConfigError(f"{listener}: {name} {value!r} does not exist")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert_file, key_file)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"{listener}: tls_cert_file {cert_file!r} and tls_key_file {key_file!r} do not load as a PEM "
            f"certificate chain and its private key ({exc.strerror or exc})"
        ) from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def data_dir() -> Path:
    base = os.environ.get("VAULTGUARD_DATA_DIR") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "vaultguard"
    )
    try:
        return private_dir(Path(base))
    except OSError as exc:
        raise ConfigError(f"data directory {base}: {exc.strerror or exc}") from None


def probe_listener(address: str, setting: str) -> None:
    """Raise ConfigError when `address` (HOST:PORT of `setting`) cannot be listened on (in use, not a local
    address): checked before start-up, so the operator gets one line instead of an error from every worker."""
    host, _, port = address.rpartition(":")
    try:
        family, kind, proto, _name, sockaddr = socket.getaddrinfo(
            host.strip("[]"), int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(sockaddr)
    except OSError as exc:
        reason = str(exc.strerror or exc)
        # In lower case, as the rest of the line and uvicorn's own wording ("address already in use").
        raise ConfigError(f'{setting} "{address}": {reason[:1].lower()}{reason[1:]}') from None


def load_config_file(path: str) -> Settings:
    """Parse the HCL server config (the same language as Vault's); see docs/operator.md."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    try:
        raw = hcl.loads(text)
    except Exception as exc:  # pyhcl raises ValueError subclasses with line info
        raise ConfigError(f"config file {path}: {exc}") from None
    known = {
        "listener", "storage", "workers", "initial_root_token_file", "max_request_size", "audit", "grpc_listener",
        "encryption_key_file", "jwks_allowed_networks",
    }  # fmt: skip
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"config file {path}: unknown settings: {', '.join(unknown)}")
    settings = Settings()
    listener = _single_block(raw, "listener", "tcp", path)
    allowed_listener = {"address", "tls_cert_file", "tls_key_file", "tls_disable", "max_token_header_size"}
    _no_unknown(listener, allowed_listener, 'listener "tcp"', path)
    settings.listen = str(listener.get("address", DEFAULT_LISTEN))
    settings.tls_cert_file = str(listener.get("tls_cert_file", ""))
    settings.tls_key_file = str(listener.get("tls_key_file", ""))
    settings.tls_disable = listener.get("tls_disable") in (True, "true", 1, "1")
    if "max_token_header_size" in listener:
        settings.max_token_header_size = int(listener["max_token_header_size"])
    storage = raw.get("storage")
    if not isinstance(storage, dict) or len(storage) != 1:
        raise ConfigError(f'config file {path}: exactly one storage block is required: storage "sql" {{ url = "..." }}')
    kind, body = next(iter(storage.items()))
    if kind == "sql":
        _no_unknown(body, {"url", "replica_propagation_bound"}, 'storage "sql"', path)
        settings.storage_url = str(body.get("url", ""))
        if "replica_propagation_bound" in body:
            settings.replica_propagation_bound = _bound(body["replica_propagation_bound"], path)
    elif kind == "sqlite":
        _no_unknown(body, {"path"}, 'storage "sqlite"', path)
        settings.storage_url = "sqlite:///" + str(Path(str(body.get("path", ""))).resolve())
    else:
        raise ConfigError(f'config file {path}: storage "{kind}" is not supported (use "sql" or "sqlite")')
    settings.workers = int(raw.get("workers", 1))
    settings.max_request_size = int(raw.get("max_request_size", settings.max_request_size))
    settings.initial_root_token_file = str(raw.get("initial_root_token_file", ""))
    if raw.get("encryption_key_file"):
        settings.encryption_key_file = str(Path(str(raw["encryption_key_file"])).resolve())
    settings.jwks_allowed_networks = _networks(raw.get("jwks_allowed_networks", []), path)
    _grpc_listener_block(raw, settings, path)
    settings.audit_devices = _audit_blocks(raw, text, path)
    return settings


def _networks(value: object, path: str) -> list[str]:
    """`jwks_allowed_networks = ["10.20.0.0/16", "fd00:1::/48"]`."""
    if not isinstance(value, list):
        raise ConfigError(f'config file {path}: jwks_allowed_networks must be a list, like ["10.0.0.0/8"]')
    try:
        return [str(network) for network in parse_networks([str(v) for v in value])]
    except ValueError as exc:
        raise ConfigError(f"config file {path}: jwks_allowed_networks: {exc}") from None


def jwks_fetch_policy(settings: Settings) -> FetchPolicy:
    """The dev server fetches from anywhere; otherwise https and public addresses, plus the allowed networks."""
    return FetchPolicy(open=settings.dev, allowed_networks=parse_networks(settings.jwks_allowed_networks))


_BOUND = re.compile(r"(\d+(?:\.\d+)?)(ms|s)?")


def _bound(value: object, path: str) -> float:
    """`replica_propagation_bound`: "1s", "250ms", "0", or a number of seconds."""
    text = str(value).strip() if not isinstance(value, bool) else ""
    match = _BOUND.fullmatch(text)
    seconds = -1.0
    if match:
        seconds = float(match[1]) / (1000 if match[2] == "ms" else 1)
    if not 0 <= seconds <= MAX_REPLICA_PROPAGATION_BOUND:
        raise ConfigError(
            f'config file {path}: storage "sql": replica_propagation_bound "{value}" must be a duration from 0 '
            f'to {MAX_REPLICA_PROPAGATION_BOUND:g}s, like "1s" or "250ms"'
        )
    return seconds


def _audit_blocks(raw: dict, text: str, path: str) -> list[dict]:
    """`audit "file" { path = "..." mode = "0600" fsync = false }` and `audit "stdout" {}`."""
    blocks = raw.get("audit")
    if blocks is None:
        return []
    if not isinstance(blocks, dict) or not all(isinstance(body, dict) for body in blocks.values()):
        raise ConfigError(f'config file {path}: expected audit "file" {{ ... }} or audit "stdout" {{}} blocks')
    # pyhcl keeps only the last of two blocks with the same label; count them in the text instead.
    for kind in blocks:
        if len(re.findall(rf'^\s*audit\s+"{re.escape(kind)}"', text, re.MULTILINE)) > 1:
            raise ConfigError(f'config file {path}: only one audit "{kind}" block is allowed')
    devices = []
    for kind, body in blocks.items():
        where = f'audit "{kind}"'
        if kind == "file":
            _no_unknown(body, {"path", "mode", "fsync"}, where, path)
            if not str(body.get("path", "")).strip():
                raise ConfigError(f"config file {path}: {where}: path is required")
            mode_text = str(body.get("mode", "0600"))
            try:
                mode = int(mode_text, 8)
            except ValueError:
                mode = -1
            if not 0 <= mode <= 0o777:
                raise ConfigError(f'config file {path}: {where}: mode "{mode_text}" must be octal, like "0600"')
            fsync = body.get("fsync", False)
            if fsync not in (True, False, "true", "false"):
                raise ConfigError(f"config file {path}: {where}: fsync must be true or false")
            devices.append({"type": "file", "path": str(Path(str(body["path"])).resolve()), "mode": mode,
                            "fsync": fsync in (True, "true")})  # fmt: skip
        elif kind == "stdout":
            _no_unknown(body, set(), where, path)
            devices.append({"type": "stdout"})
        else:
            supported = " or ".join(f'"{t}"' for t in DEVICE_TYPES)
            raise ConfigError(f"config file {path}: {where} is not a supported device (use {supported})")
    return devices


def _grpc_listener_block(raw: dict, settings: Settings, path: str) -> None:
    """`grpc_listener { address = "127.0.0.1:8201" tls_cert_file = "..." tls_key_file = "..." }`."""
    block = raw.get("grpc_listener")
    if block is None:
        return
    if not isinstance(block, dict) or not all(not isinstance(v, (dict, list)) for v in block.values()):
        raise ConfigError(f'config file {path}: expected one grpc_listener {{ address = "HOST:PORT" }} block')
    _no_unknown(block, {"address", "tls_cert_file", "tls_key_file", "tls_disable"}, "grpc_listener", path)
    if not str(block.get("address", "")).strip():
        raise ConfigError(f"config file {path}: grpc_listener: address is required")
    settings.grpc_listen = str(block["address"])
    settings.grpc_tls_cert_file = str(block.get("tls_cert_file", ""))
    settings.grpc_tls_key_file = str(block.get("tls_key_file", ""))
    settings.grpc_tls_disable = block.get("tls_disable") in (True, "true", 1, "1")


def _single_block(raw: dict, name: str, kind: str, path: str) -> dict:
    block = raw.get(name)
    if block is None:
        return {}
    if not isinstance(block, dict) or set(block) != {kind}:
        raise ConfigError(f'config file {path}: expected one {name} "{kind}" {{ ... }} block')
    return block[kind]


def _no_unknown(block: dict, allowed: set[str], where: str, path: str) -> None:
    unknown = sorted(set(block) - allowed)
    if unknown:
        raise ConfigError(f"config file {path}: {where}: unknown settings: {', '.join(unknown)}")
