"""KV version 2 repository: engine settings, key metadata and versions, on the caller's transaction.

Works on the `Tx` of `Store.read()` / `Store.write()`, so one HTTP write is one transaction. Secret writes
do not mark the transaction as an admin change: they are data, and must not make every worker and replica
drop its policy caches (`generation`). Values are sealed here, bound to their row (storage.sealing): callers
see clear JSON text, the database never does.
"""

from __future__ import annotations

import sqlalchemy as sa

from ..secrets.model import Change, EngineConfig, SecretKey, VersionInfo
from . import tables as t
from .sealing import kv_context
from .store import Store, Tx, sealer

_K = t.kv_keys
_V = t.kv_versions


def _version_read(wanted: sa.ColumnElement) -> sa.Select:
    """A key's metadata and one version (`wanted`) with its data, in one query; built once, at import."""
    join = _K.outerjoin(
        _V, sa.and_(_V.c.namespace_id == _K.c.namespace_id, _V.c.path == _K.c.path, _V.c.version == wanted)
    )
    return (
        sa.select(
            _K,
            _V.c.version.label("v_version"),
            _V.c.created_time.label("v_created_time"),
            _V.c.deletion_time.label("v_deletion_time"),
            _V.c.destroyed.label("v_destroyed"),
            _V.c.data.label("v_data"),
        )
        .select_from(join)
        .where(_K.c.namespace_id == sa.bindparam("namespace_id"), _K.c.path == sa.bindparam("path"))
    )


_READ_CURRENT = _version_read(_K.c.current_version)
_READ_NUMBERED = _version_read(sa.bindparam("number"))


def read_version(
    store: Store, namespace_id: str, path: str, number: int, epoch: int | None = None
) -> tuple[SecretKey, VersionInfo | None, str | None] | None:
    """(key, version, data) of a secret as one statement; `number` 0 means the current version. None: no such
    key. The agents' hot path, so it runs on `Store.read_one` rather than in a transaction, with the commit
    `epoch` when the caller has one (the row, still sealed, may then come from the epoch's earlier reads)."""
    params = {"namespace_id": namespace_id, "path": path}
    if number:
        params["number"] = number
    row = store.read_one(_READ_NUMBERED if number else _READ_CURRENT, params, epoch)
    if row is None:
        return None
    key = _key(row)
    if row.v_version is None:
        return key, None, None
    version = VersionInfo(row.v_version, row.v_created_time, row.v_deletion_time, bool(row.v_destroyed))
    data = row.v_data
    if data is not None:
        data = sealer(store.cipher).open(data, kv_context(namespace_id, path, row.v_version))
    return key, version, data


def _key(row: sa.Row) -> SecretKey:
    return SecretKey(
        path=row.path,
        current_version=row.current_version,
        oldest_version=row.oldest_version,
        max_versions=row.max_versions,
        cas_required=bool(row.cas_required),
        delete_version_after=row.delete_version_after,
        custom_metadata=dict(row.custom_metadata) if row.custom_metadata is not None else None,
        created_time=row.created_time,
        updated_time=row.updated_time,
    )


def _key_values(key: SecretKey) -> dict:
    return {
        "current_version": key.current_version,
        "oldest_version": key.oldest_version,
        "max_versions": key.max_versions,
        "cas_required": key.cas_required,
        "delete_version_after": key.delete_version_after,
        "custom_metadata": dict(key.custom_metadata) if key.custom_metadata is not None else None,
        "created_time": key.created_time,
        "updated_time": key.updated_time,
    }


class SecretsRepository:
    """The `secret/` engine's storage for one transaction."""

    def __init__(self, tx: Tx):
        self.conn = tx.conn
        self.tx = tx

    # -- engine configuration ----------------------------------------------------------------------------

    def config(self, namespace_id: str) -> EngineConfig:
        row = self.conn.execute(sa.select(t.kv_config).where(t.kv_config.c.namespace_id == namespace_id)).first()
        if row is None:
            return EngineConfig()
        return EngineConfig(row.max_versions, bool(row.cas_required), row.delete_version_after)

    def put_config(self, namespace_id: str, config: EngineConfig) -> None:
        values = {
            "max_versions": config.max_versions,
            "cas_required": config.cas_required,
            "delete_version_after": config.delete_version_after,
        }
        updated = self.conn.execute(
            t.kv_config.update().where(t.kv_config.c.namespace_id == namespace_id).values(**values)
        ).rowcount
        if not updated:
            self.conn.execute(t.kv_config.insert().values(namespace_id=namespace_id, **values))

    # -- keys and versions -------------------------------------------------------------------------------

    def key_exists(self, namespace_id: str, path: str) -> bool:
        stmt = sa.select(_K.c.path).where(_K.c.namespace_id == namespace_id, _K.c.path == path)
        return self.conn.execute(stmt).first() is not None

    def key(self, namespace_id: str, path: str, *, lock: bool = False) -> SecretKey | None:
        """A key's metadata with the bookkeeping of every kept version; `lock` holds the row until commit
        (PostgreSQL; SQLite write transactions are serialized already)."""
        stmt = sa.select(_K).where(_K.c.namespace_id == namespace_id, _K.c.path == path)
        if lock:
            stmt = stmt.with_for_update()
        row = self.conn.execute(stmt).first()
        if row is None:
            return None
        key = _key(row)
        rows = self.conn.execute(
            sa.select(_V.c.version, _V.c.created_time, _V.c.deletion_time, _V.c.destroyed).where(
                _V.c.namespace_id == namespace_id, _V.c.path == path
            )
        )
        key.versions = {
            r.version: VersionInfo(r.version, r.created_time, r.deletion_time, bool(r.destroyed)) for r in rows
        }
        return key

    def version_data(self, namespace_id: str, path: str, number: int) -> str | None:
        stmt = sa.select(_V.c.data).where(_V.c.namespace_id == namespace_id, _V.c.path == path, _V.c.version == number)
        data = self.conn.execute(stmt).scalar()
        return None if data is None else self.tx.cipher.open(data, kv_context(namespace_id, path, number))

    def save(self, namespace_id: str, change: Change, data: str | None = None) -> None:
        """Persist what one operation did: the key's metadata, a new version with `data`, changed and
        pruned versions."""
        key = change.key
        where = (_K.c.namespace_id == namespace_id, _K.c.path == key.path)
        if change.new_key:
            self.conn.execute(_K.insert().values(namespace_id=namespace_id, path=key.path, **_key_values(key)))
        else:
            self.conn.execute(_K.update().where(*where).values(**_key_values(key)))
        in_key = (_V.c.namespace_id == namespace_id, _V.c.path == key.path)
        if change.pruned:
            self.conn.execute(_V.delete().where(*in_key, _V.c.version.in_(change.pruned)))
        if change.added is not None:
            added = change.added
            if data is not None:
                data = self.tx.cipher.seal(data, kv_context(namespace_id, key.path, added.number))
            self.conn.execute(
                _V.insert().values(
                    namespace_id=namespace_id,
                    path=key.path,
                    version=added.number,
                    created_time=added.created_time,
                    deletion_time=added.deletion_time,
                    destroyed=added.destroyed,
                    data=data,
                )
            )
        for version in change.updated:
            values: dict = {"deletion_time": version.deletion_time, "destroyed": version.destroyed}
            if version.destroyed:
                values["data"] = None  # destroyed means the data is gone, not hidden
            self.conn.execute(_V.update().where(*in_key, _V.c.version == version.number).values(**values))

    def delete_key(self, namespace_id: str, path: str) -> None:
        """Every version and the metadata of one key."""
        self.conn.execute(_V.delete().where(_V.c.namespace_id == namespace_id, _V.c.path == path))
        self.conn.execute(_K.delete().where(_K.c.namespace_id == namespace_id, _K.c.path == path))

    def paths(self, namespace_id: str, prefix: str) -> list[str]:
        """Paths of every key under folder `prefix` ("" for all)."""
        stmt = sa.select(_K.c.path).where(_K.c.namespace_id == namespace_id)
        if prefix:
            stmt = stmt.where(_K.c.path.startswith(prefix, autoescape=True))
        return [row.path for row in self.conn.execute(stmt)]
