"""Server settings: one object, built from dev-mode flags or from an HCL config file.

Outside dev mode the settings refuse unsafe combinations (plain HTTP on a non-loopback address without an
explicit `tls_disable`, a generated root token) so a production server cannot start insecure by accident.
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import hcl

DEFAULT_LISTEN = "127.0.0.1:8200"


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
    max_token_header_size: int = 8192  # D17; -1 disables the check
    initial_root_token_file: str = ""
    dev_root_token: str = ""
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
        if self.workers < 1 or self.workers > 64:
            raise ConfigError("workers must be between 1 and 64")
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ConfigError("listener: tls_cert_file and tls_key_file must be given together")
        for name in ("tls_cert_file", "tls_key_file"):
            value = getattr(self, name)
            if value and not Path(value).is_file():
                raise ConfigError(f"listener: {name} {value!r} does not exist")
        if self.dev:
            return
        if not self.tls_cert_file and not self.tls_disable and not _is_loopback(self.host):
            raise ConfigError(
                f'listener "{self.listen}" is not loopback: configure tls_cert_file/tls_key_file, '
                'or set tls_disable = true if TLS is terminated in front of the server'
            )


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
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def load_config_file(path: str) -> Settings:
    """Parse the HCL server config (the same language as Vault's); see docs/operator.md."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        raw = hcl.loads(text)
    except Exception as exc:  # pyhcl raises ValueError subclasses with line info
        raise ConfigError(f"config file {path}: {exc}") from None
    known = {"listener", "storage", "workers", "initial_root_token_file", "max_request_size"}
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
        _no_unknown(body, {"url"}, 'storage "sql"', path)
        settings.storage_url = str(body.get("url", ""))
    elif kind == "sqlite":
        _no_unknown(body, {"path"}, 'storage "sqlite"', path)
        settings.storage_url = "sqlite:///" + str(Path(str(body.get("path", ""))).resolve())
    else:
        raise ConfigError(f'config file {path}: storage "{kind}" is not supported (use "sql" or "sqlite")')
    settings.workers = int(raw.get("workers", 1))
    settings.max_request_size = int(raw.get("max_request_size", settings.max_request_size))
    settings.initial_root_token_file = str(raw.get("initial_root_token_file", ""))
    return settings


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
