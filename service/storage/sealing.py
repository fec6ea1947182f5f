"""Encryption at rest: secret values are sealed with AES-256-GCM under one data key (the DEK), which the
operator's key-encryption keys (KEKs) wrap. The database holds only the wrapped DEK, so neither a copy of the
database nor a backup reveals a secret without a KEK (docs/security.md).

Rotating the KEK rewraps the DEK only: the keyring lists KEKs newest first, any of them unwraps, and a server
starting with a newer KEK at the top rewraps the DEK under it. Workers and replicas already running keep the
DEK in memory, so a rotation needs no downtime.

Each sealed value is bound to its row by the associated data (the KV value's namespace, path and version), so
a ciphertext moved to another row fails to open instead of serving another secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..clock import rfc3339_now
from . import tables as t
from .store import Store, UniqueViolation

KEY_BYTES = 32  # AES-256
_NONCE_BYTES = 12
SEALED_PREFIX = "vg1:"  # a sealed value; earlier versions stored JSON or hex, which never start so
ENV_KEYRING = "VAULTGUARD_ENCRYPTION_KEY"
DEV_KEY_FILE = "encryption.key"  # in the dev server's data directory
_DEK_CONTEXT = b"vaultguard data key v1"
_ROW_ID = 1


class SealError(Exception):
    """A key or sealed value that cannot be used; the message is for the operator."""


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def kv_context(namespace_id: str, path: str, version: int) -> bytes:
    """The associated data binding a KV value to its row. Unambiguous although a path may hold NUL: the
    namespace id has none, and the version (digits) follows the last NUL."""
    return f"kv\0{namespace_id}\0{path}\0{version}".encode()


AUDIT_KEY_CONTEXT = b"audit_hmac_key\x001"


class Cipher:
    """Seals and opens values under the data key."""

    def __init__(self, key: bytes):
        self._aead = AESGCM(key)

    def seal(self, text: str, context: bytes) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, text.encode(), context)
        return SEALED_PREFIX + base64.b64encode(sealed).decode("ascii")

    def open(self, stored: str, context: bytes) -> str:
        if not stored.startswith(SEALED_PREFIX):
            # Start-up seals every clear value an earlier version wrote, so this is a tampered row.
            raise SealError("a stored secret is not encrypted")
        raw = binascii.a2b_base64(stored[len(SEALED_PREFIX) :])
        try:
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context).decode()
        except InvalidTag:
            raise SealError("a stored secret does not belong to its row or was altered") from None


# -- the operator's keyring --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Keyring:
    """KEKs, newest first: the first wraps, any of them unwraps."""

    keys: tuple[bytes, ...]

    @classmethod
    def parse(cls, text: str, source: str) -> Keyring:
        """One base64 key of 32 bytes per line (or comma-separated), newest first; `#` starts a comment."""
        keys = []
        for item in text.replace(",", "\n").splitlines():
            item = item.split("#", 1)[0].strip()
            if not item:
                continue
            try:
                key = base64.b64decode(item, validate=True)
            except binascii.Error:
                key = b""
            if len(key) != KEY_BYTES:
                raise SealError(f"{source}: each key must be {KEY_BYTES} random bytes in base64 ({generate_hint()})")
            keys.append(key)
        if not keys:
            raise SealError(f"{source} holds no key ({generate_hint()})")
        return cls(tuple(keys))

    @property
    def newest(self) -> bytes:
        return self.keys[0]


def generate_hint() -> str:
    return "generate one with: openssl rand -base64 32"


def key_id(kek: bytes) -> str:
    """Names a KEK without revealing it (stored next to the wrapped DEK, shown in errors)."""
    return hashlib.sha256(b"vaultguard kek id" + kek).hexdigest()[:16]


def load_keyring(key_file: str) -> Keyring:
    """The keyring from `key_file`, else from the environment variable."""
    if key_file:
        try:
            text = Path(key_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SealError(f"encryption_key_file {key_file!r}: {getattr(exc, 'strerror', None) or exc}") from None
        return Keyring.parse(text, f"encryption_key_file {key_file!r}")
    if os.environ.get(ENV_KEYRING):
        return Keyring.parse(os.environ[ENV_KEYRING], ENV_KEYRING)
    raise SealError(f"no encryption key: set encryption_key_file or {ENV_KEYRING} ({generate_hint()})")


def create_key_file(path: Path) -> None:
    """A new one-key keyring at `path`, readable by this user only (dev mode); kept when it exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as out:
        out.write(base64.b64encode(new_key()).decode() + "\n")


# -- the wrapped data key in the database --------------------------------------------------------------------


def _wrap(kek: bytes, dek: bytes) -> str:
    nonce = os.urandom(_NONCE_BYTES)
    return base64.b64encode(nonce + AESGCM(kek).encrypt(nonce, dek, _DEK_CONTEXT)).decode("ascii")


def _unwrap(keyring: Keyring, wrapped_by: str, wrapped: str) -> bytes:
    raw = base64.b64decode(wrapped)
    for kek in keyring.keys:
        if key_id(kek) == wrapped_by:
            try:
                return AESGCM(kek).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _DEK_CONTEXT)
            except InvalidTag:
                break
    ids = ", ".join(key_id(k) for k in keyring.keys)
    raise SealError(
        f"the encryption key does not match this database: its data key is wrapped by key id {wrapped_by}, "
        f"the configured keys have ids {ids}; configure the key the database was created or last rotated with"
    )


def _read_row(store: Store) -> sa.Row | None:
    with store.read() as tx:
        return tx.conn.execute(sa.select(t.data_key).where(t.data_key.c.id == _ROW_ID)).first()


def open_data_key(store: Store, keyring: Keyring) -> Cipher:
    """The data key unwrapped (a worker's start; the server's start has created it already)."""
    row = _read_row(store)
    if row is None:
        raise SealError("the database has no data key yet; start the server to create it")
    return Cipher(_unwrap(keyring, row.wrapped_by, row.wrapped))


def prepare_data_key(store: Store, keyring: Keyring) -> Cipher:
    """At server start: create the data key on first start (several processes may race: the primary key lets
    one insert win), or unwrap it and rewrap it under the newest KEK when an older one wraps it (rotation)."""
    if _read_row(store) is None:
        try:
            with store.write() as tx:
                tx.conn.execute(
                    t.data_key.insert().values(
                        id=_ROW_ID,
                        wrapped_by=key_id(keyring.newest),
                        wrapped=_wrap(keyring.newest, new_key()),
                        created_time=rfc3339_now(),
                    )
                )
        except UniqueViolation:
            pass  # another process won the race
    dek, _wrapped_by = _rewrap(store, keyring)
    cipher = Cipher(dek)
    _seal_clear_values(store, cipher)
    return cipher


def rotate_data_key_wrapping(store: Store, keyring: Keyring) -> tuple[str, str]:
    """`vaultguard rotate-encryption-key`: rewrap the data key under the keyring's newest KEK, while servers
    keep running (they hold the data key itself, which does not change). Returns (the key id that wrapped it,
    the key id that wraps it now); equal when it was already wrapped by the newest key."""
    if _read_row(store) is None:
        raise SealError("the database has no data key yet; start the server once to create it")
    _dek, was = _rewrap(store, keyring)
    return was, key_id(keyring.newest)


def _rewrap(store: Store, keyring: Keyring) -> tuple[bytes, str]:
    """The data key, rewrapped under the newest KEK when another one wraps it; and the id that wrapped it."""
    with store.write() as tx:
        row = tx.conn.execute(sa.select(t.data_key).where(t.data_key.c.id == _ROW_ID).with_for_update()).one()
        dek = _unwrap(keyring, row.wrapped_by, row.wrapped)
        if row.wrapped_by != key_id(keyring.newest):
            tx.conn.execute(
                t.data_key.update()
                .where(t.data_key.c.id == _ROW_ID)
                .values(wrapped_by=key_id(keyring.newest), wrapped=_wrap(keyring.newest, dek))
            )
    return dek, row.wrapped_by


def _seal_clear_values(store: Store, cipher: Cipher) -> None:
    """Encrypt what a version before encryption at rest stored in clear (once, at the first start after the
    upgrade); on SQLite, then drop the freed pages that still hold the clear text."""
    sealed = 0
    clear = ~t.kv_versions.c.data.startswith(SEALED_PREFIX)
    with store.write() as tx:
        rows = tx.conn.execute(
            sa.select(t.kv_versions.c.namespace_id, t.kv_versions.c.path, t.kv_versions.c.version, t.kv_versions.c.data)
            .where(t.kv_versions.c.data.is_not(None), clear)
        ).all()
        for row in rows:
            where = (
                (t.kv_versions.c.namespace_id == row.namespace_id)
                & (t.kv_versions.c.path == row.path)
                & (t.kv_versions.c.version == row.version)
            )
            context = kv_context(row.namespace_id, row.path, row.version)
            tx.conn.execute(t.kv_versions.update().where(where).values(data=cipher.seal(row.data, context)))
        key = tx.conn.execute(sa.select(t.audit_hmac_key.c.key).where(t.audit_hmac_key.c.id == 1)).scalar()
        if key is not None and not key.startswith(SEALED_PREFIX):
            tx.conn.execute(
                t.audit_hmac_key.update()
                .where(t.audit_hmac_key.c.id == 1)
                .values(key=cipher.seal(key, AUDIT_KEY_CONTEXT))
            )
            sealed += 1
        sealed += len(rows)
    if sealed and store.dialect == "sqlite":
        raw = store.engine.raw_connection()  # outside any transaction (the engine's hook begins one)
        try:
            raw.driver_connection.execute("VACUUM")
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
