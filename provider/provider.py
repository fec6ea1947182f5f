"""The `vault` provider: its configuration schema (hashicorp/vault compatible) and configuration.

Settings come from the provider block, else from the environment variables the hashicorp/vault provider
reads (DECISIONS.md#d48). `configure_provider` contacts nothing; `check_connection`, which the servicer calls right
after it when Terraform configures the provider, settles the token and turns each way that can fail into an
error naming the setting that fixes it.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tf.iface import Config, DataSource, Provider, Resource
from tf.schema import Attribute, Block, Schema
from tf.types import Bool, Number, String, Unknown
from tf.utils import Diagnostics

from vaultguard.provider.client import (
    DEFAULT_CHILD_TOKEN_TTL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TOKEN_NAME,
    ApiError,
    ChildTokenRefused,
    ClientSettings,
    PlainHttpServer,
    TokenRefused,
    Unreachable,
    UntrustedCertificate,
)
from vaultguard.provider.framework import HttpUrl, ListNestedBlock, check, show

if TYPE_CHECKING:  # pragma: no cover
    from vaultguard.provider.client import VaultClient

PROVIDER_NAME = "vault"
PROVIDER_ADDRESS = "registry.terraform.io/vaultguard/vault"


@dataclass(frozen=True)
class Setting:
    """One provider argument: its schema attribute and the environment variable it falls back to."""

    attribute: Attribute
    env: str | None = None


def _attr(name: str, type_: Any, description: str, *, sensitive: bool = False) -> Attribute:
    return Attribute(name, type_, description=description, optional=True, sensitive=sensitive)


SETTINGS: dict[str, Setting] = {
    s.attribute.name: s
    for s in [
        Setting(
            _attr(
                "address",
                String(),
                "URL of the root of the Vault server (or vaultguard service), "
                "e.g. `https://vault.example.com:8200`. Falls back to `VAULT_ADDR`. Required.",
            ),
            "VAULT_ADDR",
        ),
        Setting(
            _attr(
                "token",
                String(),
                "Token used to authenticate. Falls back to `VAULT_TOKEN`, then to "
                "the file `~/.vault-token`. Required.",
                sensitive=True,
            ),
            "VAULT_TOKEN",
        ),
        Setting(
            _attr(
                "token_name",
                String(),
                "Display name of the child token the provider creates. "
                f"Falls back to `VAULT_TOKEN_NAME`; default `{DEFAULT_TOKEN_NAME}`.",
            ),
            "VAULT_TOKEN_NAME",
        ),
        Setting(
            _attr(
                "namespace",
                String(),
                "Namespace every request is made in; a resource's own "
                "`namespace` is appended to it. Falls back to `VAULT_NAMESPACE`, then (with "
                "`set_namespace_from_token`) to the token's namespace.",
            ),
            "VAULT_NAMESPACE",
        ),
        Setting(
            _attr(
                "set_namespace_from_token",
                Bool(),
                "When no namespace is configured, use the "
                "namespace of the token. Falls back to `VAULT_SET_NAMESPACE_FROM_TOKEN`; default true.",
            ),
            "VAULT_SET_NAMESPACE_FROM_TOKEN",
        ),
        Setting(
            _attr(
                "skip_tls_verify",
                Bool(),
                "Do not verify the server's TLS certificate (insecure). Falls back to `VAULT_SKIP_VERIFY`.",
            ),
            "VAULT_SKIP_VERIFY",
        ),
        Setting(
            _attr(
                "ca_cert_file",
                String(),
                "PEM file of CA certificates to verify the server with. Falls back to `VAULT_CACERT`.",
            ),
            "VAULT_CACERT",
        ),
        Setting(
            _attr(
                "ca_cert_dir",
                String(),
                "Directory of (c_rehash-ed) PEM CA certificates to verify the "
                "server with; `ca_cert_file` wins when both are set. Falls back to `VAULT_CAPATH`.",
            ),
            "VAULT_CAPATH",
        ),
        Setting(
            _attr(
                "skip_child_token",
                Bool(),
                "Use the configured token directly instead of a short-lived "
                "child token. Falls back to `TERRAFORM_VAULT_SKIP_CHILD_TOKEN`.",
            ),
            "TERRAFORM_VAULT_SKIP_CHILD_TOKEN",
        ),
        Setting(
            _attr(
                "max_lease_ttl_seconds",
                Number(),
                "Lifetime of the child token, in seconds. Falls back "
                f"to `TERRAFORM_VAULT_MAX_TTL`; default {DEFAULT_CHILD_TOKEN_TTL}.",
            ),
            "TERRAFORM_VAULT_MAX_TTL",
        ),
        Setting(
            _attr(
                "max_retries",
                Number(),
                "How many times a request is retried after a connection error "
                f"or a 5xx answer. Falls back to `VAULT_MAX_RETRIES`; default {DEFAULT_MAX_RETRIES}.",
            ),
            "VAULT_MAX_RETRIES",
        ),
        Setting(
            _attr(
                "skip_get_vault_version",
                Bool(),
                "Do not read the server version from "
                "`sys/seal-status`; `vault_version_override` stands for it.",
            ),
        ),
        Setting(
            _attr(
                "vault_version_override",
                String(),
                "Server version to assume when `skip_get_vault_version` is set, e.g. `2.1.0+ent`.",
            ),
        ),
    ]
}

HEADERS_BLOCK = ListNestedBlock(
    "headers",
    Block(
        attributes=[
            Attribute("name", String(), description="Header name.", required=True),
            Attribute("value", String(), description="Header value.", required=True, sensitive=True),
        ],
        description="An HTTP header sent with every request to the server.",
    ),
)

PROVIDER_SCHEMA = Schema(
    attributes=[s.attribute for s in SETTINGS.values()],
    block_types=[HEADERS_BLOCK],
    description="Manages vaultguard (and Vault Enterprise) agent registrations, OAuth resource server "
    "profiles and the identities and policies they rely on.",
)

# The provider's namespace is normalized (slashes trimmed) rather than validated, as hashicorp/vault does.
_VALUE_RULES = {
    "address": [HttpUrl()],
}

_TRUE = {"1", "t", "true"}
_FALSE = {"0", "f", "false"}


@functools.cache
def package_version() -> str:
    """The installed vaultguard version, which is also the provider's version.

    Read from the first `vaultguard-<version>.dist-info/METADATA` on sys.path, where pip puts it for a wheel
    and for an editable install alike: importlib.metadata finds the same file, but importing it (and the email
    parser it reads the file with) costs ~30 ms of every provider start, before the handshake. It answers when
    there is no such file.
    """
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.startswith("vaultguard-") and name.endswith(".dist-info"):
                found = _metadata_version(os.path.join(entry, name, "METADATA"))
                if found:
                    return found
    from importlib.metadata import version

    return version("vaultguard")


def _metadata_version(path: str) -> str | None:
    """The `Version:` header of a core metadata file, or None."""
    try:
        with open(path, encoding="utf-8") as metadata:
            for line in metadata:
                if not line.strip():
                    return None  # the end of the headers
                if line.startswith("Version:"):
                    return line.removeprefix("Version:").strip() or None
    except OSError:
        return None
    return None


class ConfigError(ValueError):
    """A provider argument (or its environment fallback) has an unusable value."""

    def __init__(self, name: str, summary: str, detail: str):
        super().__init__(f"{summary}: {detail}")
        self.name = name
        self.summary = summary
        self.detail = detail


class _Resolver:
    """Looks a setting up in the config, then the environment; remembers where it came from."""

    def __init__(self, config: Config, environ: Mapping[str, str]):
        self.config = config
        self.environ = environ

    def raw(self, name: str) -> Any:
        value = self.config.get(name)
        # As in hashicorp/vault, an empty string in the configuration means "not set".
        if value is not None and value != "":
            return value
        env = SETTINGS[name].env
        if env and self.environ.get(env, "") != "":
            return self.environ[env]
        return None

    def source(self, name: str) -> str:
        env = SETTINGS[name].env
        if self.config.get(name) in (None, "") and env:
            return f"environment variable {env}"
        return f"provider argument {name}"

    def string(self, name: str) -> str | None:
        value = self.raw(name)
        return None if value is None else str(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ConfigError(
            name,
            f"Invalid value for {name}",
            f"{self.source(name)} must be true or false; got {show(value)}.",
        )

    def integer(self, name: str, default: int, minimum: int = 0) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value) if not isinstance(value, float) or value.is_integer() else None
        except (TypeError, ValueError):
            number = None
        if number is None or number < minimum:
            raise ConfigError(
                name,
                f"Invalid value for {name}",
                f"{self.source(name)} must be a whole number of at least {minimum}; got {show(value)}.",
            )
        return number


def _written(config: Config) -> Config:
    """The arguments actually written: an empty string means "not set" (then the environment applies)."""
    return {k: v for k, v in config.items() if v != ""}


def _token_file(environ: Mapping[str, str]) -> Path:
    home = environ.get("HOME") or str(Path.home())
    return Path(home) / ".vault-token"


def _read_token_file(environ: Mapping[str, str]) -> str | None:
    try:
        token = _token_file(environ).read_text().strip()
    except OSError:
        return None
    return token or None


class VaultProvider(Provider):
    """The `vault` provider (registry.terraform.io/vaultguard/vault)."""

    name = PROVIDER_NAME

    def __init__(self, environ: Mapping[str, str] | None = None):
        # The environment is read when validating and configuring, so tests can pass their own.
        self._environ = environ
        self._client: VaultClient | None = None
        self._configured: Config = {}  # the provider block as configured, for naming settings in errors
        self._version: str | None = None

    @property
    def environ(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    @property
    def version(self) -> str:
        """The provider's version: the installed vaultguard package version."""
        if self._version is None:
            self._version = package_version()
        return self._version

    # ---- tf.iface.Provider ------------------------------------------------------------------

    def get_model_prefix(self) -> str:
        return f"{PROVIDER_NAME}_"

    def full_name(self) -> str:
        return PROVIDER_ADDRESS

    def get_provider_schema(self, diags: Diagnostics) -> Schema:
        return PROVIDER_SCHEMA

    def get_resources(self) -> list[type[Resource]]:
        from vaultguard.provider.resources import RESOURCES

        return list(RESOURCES)

    def get_data_sources(self) -> list[type[DataSource]]:
        from vaultguard.provider.data_sources import DATA_SOURCES

        return list(DATA_SOURCES)

    def get_functions(self) -> list[type]:
        from vaultguard.provider.functions import FUNCTIONS

        return list(FUNCTIONS)

    def validate_config(self, diags: Diagnostics, config: Config) -> None:
        """Check what can be checked without contacting anything.

        Values written in the configuration are checked strictly (errors). A missing address or token is
        only a warning here: `terraform validate` is meant to work without credentials (CI often runs it
        with none), and the same condition is an error when the provider is configured for plan/apply.
        """
        config = config or {}
        check(diags, _written(config), _VALUE_RULES)
        for name in ("address", "token"):
            if config.get(name) is Unknown:
                continue
            missing = self._missing(name, config)
            if missing:
                diags.add_warning(missing[0] + " (needed for plan and apply)", missing[1], path=[name])
        try:
            self.settings(config, require_credentials=False)
        except ConfigError as exc:
            diags.add_error(exc.summary, exc.detail, path=[exc.name] if exc.name in config else None)
        except _UnknownValue:
            pass

    def configure_provider(self, diags: Diagnostics, config: Config) -> None:
        """Resolve settings and make the client; every problem is an error naming the argument."""
        config = config or {}
        check(diags, _written(config), _VALUE_RULES)
        if diags.has_errors():
            return
        try:
            settings = self.settings(config)
        except _UnknownValue as exc:
            diags.add_error(
                f"Provider argument {exc.name} is not known yet",
                f"The provider's {exc.name} depends on a value that is only known after apply. Configure "
                "it from variables or data sources known at plan time.",
                path=[exc.name],
            )
            return
        except ConfigError as exc:
            diags.add_error(exc.summary, exc.detail, path=[exc.name] if exc.name in config else None)
            return
        from vaultguard.provider.client import VaultClient

        self._configured = dict(config)
        self._client = VaultClient(settings)

    def check_connection(self, diags: Diagnostics) -> None:
        """Reach the server and settle the token now (lookup-self, then the child token), so that plan
        fails on a bad address, token or CA even when no resource would call the server."""
        if self._client is None:
            return
        try:
            self._client.ensure_token()
        except ApiError as exc:
            summary, detail, setting = self._how_to_fix(exc)
            written = setting is not None and self._configured.get(setting) not in (None, "")
            diags.add_error(summary, detail, path=[setting] if written else None)

    def _how_to_fix(self, exc: ApiError) -> tuple[str, str, str | None]:
        """(summary, detail, setting) for a failure to connect or authenticate: what went wrong in the
        user's terms, and the setting (in the provider block or the environment) that fixes it."""
        settings = self.client.settings
        address = settings.address
        block = 'the provider "vault" block'
        if isinstance(exc, TokenRefused):
            return (
                "The server refused the token",
                f"{address} answered permission denied to the token from {self._token_source()} "
                f"({exc.method} /v1/{exc.path}): the token is wrong, expired or revoked, or belongs to "
                f"another server. Check `token` in {block}, or VAULT_TOKEN when the block sets none "
                f"(then the file {_token_file(self.environ)}).",
                "token",
            )
        if isinstance(exc, ChildTokenRefused):
            return (
                "The token may not create the provider's child token",
                "The provider uses the configured token to create a short-lived child token "
                f"(POST /v1/auth/token/create), and {address} refused: {'; '.join(exc.errors)}. Set "
                f"`skip_child_token = true` in {block} (or TERRAFORM_VAULT_SKIP_CHILD_TOKEN=true) to use the "
                "token directly, as read-only CI tokens usually do, or grant it `update` on auth/token/create.",
                "skip_child_token",
            )
        if isinstance(exc, PlainHttpServer):
            plain = "http://" + address.removeprefix("https://")
            return (
                "The server speaks plain HTTP, not HTTPS",
                f"{address} answered in plain HTTP, not TLS: use {plain} as `address` (or VAULT_ADDR), or "
                "enable TLS on the server (tls_cert_file and tls_key_file in its listener block).",
                "address",
            )
        if isinstance(exc, UntrustedCertificate):
            bundle = settings.ca_cert_file or settings.ca_cert_dir
            in_use = f"the CA certificates in {bundle}" if bundle else "the system's CA certificates"
            return (
                f"The certificate of {address} is not trusted",
                f"{'; '.join(exc.errors)}. It does not verify against {in_use}. Give the CA that signed it "
                f"with `ca_cert_file` in {block} (or VAULT_CACERT), or a directory of CA certificates with "
                "`ca_cert_dir` (or VAULT_CAPATH). `skip_tls_verify = true` (VAULT_SKIP_VERIFY) turns the check "
                "off: insecure, for tests only.",
                "ca_cert_file",
            )
        if isinstance(exc, Unreachable):
            return (
                f"Could not reach the server at {address}",
                f"{'; '.join(exc.errors)}. Check `address` in {block} (or VAULT_ADDR when the block sets "
                "none), and that the server is running and reachable from this machine.",
                "address",
            )
        return (f"Unable to use the server at {address}", str(exc), None)

    def _token_source(self) -> str:
        resolver = _Resolver(self._configured, self.environ)
        if resolver.raw("token") is None:
            return f"the file {_token_file(self.environ)}"
        return resolver.source("token")

    # ---- configuration ----------------------------------------------------------------------

    @property
    def client(self) -> VaultClient:
        """The client made by configure_provider."""
        if self._client is None:
            raise RuntimeError("the vault provider was used before Terraform configured it")
        return self._client

    def settings(self, config: Config, *, require_credentials: bool = True) -> ClientSettings:
        """Resolve provider config plus environment into ClientSettings (raises ConfigError)."""
        for name, value in config.items():
            if value is Unknown:
                raise _UnknownValue(name)
        r = _Resolver(config, self.environ)
        if require_credentials:
            for name in ("address", "token"):
                missing = self._missing(name, config)
                if missing:
                    raise ConfigError(name, *missing)
        address = r.string("address") or ""
        if address and config.get("address") in (None, ""):
            # An address from VAULT_ADDR gets the same check as one written in the configuration.
            for _, message in HttpUrl().errors(address):
                raise ConfigError("address", "Invalid value for address", f"VAULT_ADDR {message}.")
        token = r.string("token") or _read_token_file(self.environ) or ""
        headers = []
        for block in config.get("headers") or []:
            if block.get("name") is Unknown or block.get("value") is Unknown:
                raise _UnknownValue("headers")
            headers.append((str(block.get("name") or ""), str(block.get("value") or "")))
        user_agent = "vaultguard-terraform-provider"
        try:
            user_agent += f"/{self.version}"
        except Exception:  # noqa: BLE001 - a missing distribution must not stop the provider
            pass
        return ClientSettings(
            address=address,
            token=token,
            namespace=r.string("namespace"),
            skip_tls_verify=r.boolean("skip_tls_verify", False),
            ca_cert_file=r.string("ca_cert_file"),
            ca_cert_dir=r.string("ca_cert_dir"),
            max_retries=r.integer("max_retries", DEFAULT_MAX_RETRIES),
            headers=tuple(headers),
            token_name=r.string("token_name") or DEFAULT_TOKEN_NAME,
            skip_child_token=r.boolean("skip_child_token", False),
            child_token_ttl=r.integer("max_lease_ttl_seconds", DEFAULT_CHILD_TOKEN_TTL, minimum=1),
            set_namespace_from_token=r.boolean("set_namespace_from_token", True),
            skip_get_vault_version=r.boolean("skip_get_vault_version", False),
            vault_version_override=r.string("vault_version_override"),
            user_agent=user_agent,
        )

    def _missing(self, name: str, config: Config) -> tuple[str, str] | None:
        """(summary, detail) when `name` is set neither in config nor in its fallbacks."""
        r = _Resolver(config, self.environ)
        if name == "address" and not r.string("address"):
            return (
                "Missing Vault address",
                'Set `address` in the provider "vault" block or the VAULT_ADDR environment variable to '
                "the URL of the server, e.g. https://vault.example.com:8200.",
            )
        if name == "token" and not (r.string("token") or _read_token_file(self.environ)):
            return (
                "Missing Vault token",
                'Set `token` in the provider "vault" block, the VAULT_TOKEN environment variable, or '
                f"write the token to {_token_file(self.environ)}.",
            )
        return None


class _UnknownValue(Exception):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name
