"""The per-server audit HMAC key: generated once, kept in the database (sealed under the data key, as secret
values are: storage.sealing), read by every worker and replica."""

from __future__ import annotations

import secrets

import sqlalchemy as sa

from ..clock import rfc3339_now
from ..storage import tables as t
from ..storage.sealing import AUDIT_KEY_CONTEXT
from ..storage.store import Store, UniqueViolation

KEY_BYTES = 32
_ROW_ID = 1


def load_or_create_key(store: Store) -> bytes:
    """The key, creating it if this is the first start. Safe when several processes race to create it:
    the primary key lets exactly one insert win, and every loser reads the winner's key."""
    key = _read(store)
    if key is not None:
        return key
    try:
        with store.write() as tx:
            # Written directly (not through Tx._write): the key is not an admin change, so no cache
            # generation bump.
            tx.conn.execute(
                t.audit_hmac_key.insert().values(
                    id=_ROW_ID,
                    key=tx.cipher.seal(secrets.token_bytes(KEY_BYTES).hex(), AUDIT_KEY_CONTEXT),
                    created_time=rfc3339_now(),
                )
            )
    except UniqueViolation:
        pass  # another process won the race
    key = _read(store)
    if key is None:  # pragma: no cover - the insert above committed or lost to a committed insert
        raise RuntimeError("the audit HMAC key could not be created")
    return key


def _read(store: Store) -> bytes | None:
    with store.read() as tx:
        value = tx.conn.execute(sa.select(t.audit_hmac_key.c.key).where(t.audit_hmac_key.c.id == _ROW_ID)).scalar()
        return bytes.fromhex(tx.cipher.open(value, AUDIT_KEY_CONTEXT)) if value else None
