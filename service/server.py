"""Start-up: migrate storage, install the root token, run uvicorn with the configured workers."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import workers
from .audit.devices import DeviceError, device_from_settings
from .audit.key import load_or_create_key
from .authn.tokens import TokenRecord, new_accessor, new_token, token_hash
from .config import ConfigError, Settings, probe_listener
from .http_protocol import VaultHttpProtocol
from .identity.model import ROOT_NAMESPACE_ID
from .storage import changes
from .storage.files import ExposedFile, make_private, sqlite_files
from .storage.notifications import GenerationListener
from .storage.sealing import SealError, create_key_file, load_keyring, prepare_data_key
from .storage.store import StorageError, Store


def install_root_token(store: Store, token: str) -> None:
    """Store `token` (hashed) as a root token unless it is already there."""
    with store.write() as tx:
        if tx.token_by_hash(token_hash(token)) is None:
            tx.insert_token(
                TokenRecord(
                    id_hash=token_hash(token),
                    accessor=new_accessor(),
                    namespace_id=ROOT_NAMESPACE_ID,
                    policies=["root"],
                    display_name="root",
                    creation_time=time.time(),
                    orphan=True,
                )
            )


def prepare(settings: Settings) -> str | None:
    """Migrate and bootstrap; returns the dev root token to print (None outside dev mode)."""
    key_files = [Path(settings.encryption_key_file)] if settings.encryption_key_file else []
    try:
        make_private(sqlite_files(settings.storage_url) + key_files, repair=settings.dev)
        if settings.dev and key_files:
            create_key_file(key_files[0])
        keyring = load_keyring(settings.encryption_key_file)
    except (ExposedFile, SealError) as exc:
        raise ConfigError(str(exc)) from None
    store = Store(settings.storage_url)
    try:
        store.migrate()
        try:
            store.cipher = prepare_data_key(store, keyring)
        except SealError as exc:
            raise ConfigError(str(exc)) from None
        _prepare_audit(settings, store)
        if settings.dev:
            settings.dev_root_token = settings.dev_root_token or new_token()
            install_root_token(store, settings.dev_root_token)
            return settings.dev_root_token
        if settings.initial_root_token_file:
            try:
                token = open(settings.initial_root_token_file).read().strip()
            except OSError as exc:
                raise ConfigError(f"initial_root_token_file: {exc.strerror}") from None
            if len(token) < 16:
                raise ConfigError("initial_root_token_file: the token must be at least 16 characters")
            install_root_token(store, token)
        return None
    except StorageError as exc:
        raise ConfigError(f"storage {settings.storage_url}: {exc}") from None
    finally:
        store.dispose()


def _prepare_audit(settings: Settings, store: Store) -> None:
    """Refuse to start with an audit device that cannot write; create the shared HMAC key on first start."""
    for spec in settings.audit_devices:
        try:
            device_from_settings(spec).probe()
        except DeviceError as exc:
            raise ConfigError(str(exc)) from None
    try:
        load_or_create_key(store)
    except SealError as exc:
        raise ConfigError(
            f"the audit HMAC key (table audit_hmac_key) does not open: {exc}. Restore that table from a backup, "
            "or delete its row to have a new key made (audit lines hashed with the old key then no longer match)"
        ) from None


def run(settings: Settings) -> None:
    import uvicorn

    # Before anything is printed: a dev banner announcing an address someone else holds would mislead.
    probe_listener(settings.listen, "listener")
    if settings.grpc_listen:
        probe_listener(settings.grpc_listen, "grpc_listener")
    root_token = prepare(settings)
    if settings.dev:
        print("==> vaultguard server started in DEV mode (never use dev mode in production).")
        print(f"    Api Address: {settings.address}")
        if settings.grpc_listen:
            print(f"    gRPC Address: {settings.grpc_listen} (vaultguard.decision.v1.DecisionService)")
        print(f"    Storage:     {settings.storage_url}")
        for spec in settings.audit_devices:
            print(f"    Audit log:   {spec.get('path', 'stdout')}")
        print("")
        print("Set VAULT_ADDR and VAULT_TOKEN to use it:")
        print(f"    export VAULT_ADDR='{settings.address}'")
        print(f"    Root Token: {root_token}")
        sys.stdout.flush()
    listener = None
    if not settings.storage_url.startswith("sqlite"):  # SQLite has an exact and cheap check of its own
        settings.local_changes_file = changes.create_file()
        # One LISTEN connection per server (not per worker): it raises the generation all workers share.
        node = changes.NodeGeneration(settings.local_changes_file)
        listener = GenerationListener(settings.storage_url, node.advance).start()
    os.environ["VAULTGUARD_SETTINGS"] = settings.to_env()
    metrics_dir = None
    if settings.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Workers share metrics through files; must be set before any worker imports prometheus_client.
        metrics_dir = tempfile.mkdtemp(prefix="vaultguard-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    options = dict(
        app="vaultguard.service.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        http=VaultHttpProtocol,  # httptools, with Vault's LIST method and a bounded request head
        ssl_certfile=settings.tls_cert_file or None,
        ssl_keyfile=settings.tls_key_file or None,
        log_level="warning",
        access_log=False,
    )
    try:
        if settings.workers > 1 and workers.supported():
            workers.run(options, settings.workers)
        else:
            uvicorn.run(**options, workers=settings.workers)
    finally:
        if listener is not None:
            listener.stop()
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        if settings.local_changes_file:
            Path(settings.local_changes_file).unlink(missing_ok=True)
