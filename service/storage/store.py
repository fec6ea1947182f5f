"""The storage facade: transactions and repositories that turn rows into domain dataclasses.

Every admin write runs inside one `Store.write()` transaction; domain code receives the `Tx` and never
sees SQLAlchemy. Constraint failures become `UniqueViolation` / `ReferenceViolation` so callers can
answer 400 with the rule that was broken, never 500.
"""

from __future__ import annotations

import re
import threading
from collections import namedtuple
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from ..authn.profiles import Profile, PublicKey
from ..authn.tokens import TokenRecord
from ..authz.builtin import BUILTIN_POLICIES
from ..identity.model import ROOT_NAMESPACE_ID, Alias, Entity, Group, GroupAlias, Namespace
from ..registry.model import Registration
from . import tables as t
from .changes import NodeGeneration
from .engine import create_engine, migrate
from .notifications import CHANNEL

if TYPE_CHECKING:
    from .sealing import Cipher


T = TypeVar("T")


class StorageError(Exception):
    """Base class of storage failures a caller can act on."""


class UniqueViolation(StorageError):
    """A uniqueness constraint rejected the write; `constraint` is its name in `tables.py`."""

    def __init__(self, constraint: str):
        super().__init__(constraint)
        self.constraint = constraint


class ReferenceViolation(StorageError):
    """A foreign key rejected the write (a referenced row is missing, or is still referenced)."""

    def __init__(self, constraint: str):
        super().__init__(constraint)
        self.constraint = constraint


class Unavailable(StorageError):
    """The database could not be reached or stayed locked."""


_GENERATION = sa.select(t.generation.c.value)
_NEXT_GENERATION = t.generation.update().values(value=t.generation.c.value + 1).returning(t.generation.c.value)
_NOTIFY = sa.text(f"NOTIFY {CHANNEL}")
_IN_CHUNK = 500  # ids per IN (...) list: well under every engine's limit on bound parameters


def _close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - already broken; nothing more to release
        pass


class _Prepared(NamedTuple):
    """A SELECT compiled once for one dialect, with what turns a DB-API row into typed values."""

    sql: str
    positions: tuple[str, ...] | None  # parameter names in order, for positional paramstyles (SQLite's "?")
    fields: type  # a named tuple of the selected columns
    processors: tuple[Callable[[Any], Any] | None, ...]  # the column types' result processors (JSON, bool)

    @classmethod
    def of(cls, statement: sa.Select, dialect: sa.Dialect) -> _Prepared:
        compiled = statement.compile(dialect=dialect)
        columns = list(statement.selected_columns)
        return cls(
            sql=compiled.string,
            positions=tuple(compiled.positiontup or ()) if compiled.positional else None,
            fields=namedtuple("Row", [c.key for c in columns], rename=True),  # noqa: PYI024
            processors=tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns),
        )

    def arguments(self, params: dict[str, Any]) -> tuple | dict:
        return tuple(params[name] for name in self.positions) if self.positions is not None else params

    def row(self, values: Sequence[Any]) -> tuple:
        return self.fields(*(p(v) if p is not None else v for p, v in zip(self.processors, values, strict=True)))


_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)")


def _constraint_name(exc: IntegrityError) -> tuple[str, str]:
    """(kind, name) for an IntegrityError on either engine."""
    orig = exc.orig
    diag = getattr(orig, "diag", None)
    if diag is not None and getattr(diag, "constraint_name", None):
        sqlstate = getattr(orig, "sqlstate", "") or ""
        return ("unique" if sqlstate == "23505" else "reference"), diag.constraint_name
    message = str(orig)
    match = _SQLITE_UNIQUE.search(message)
    if match:
        columns = [c.strip() for c in match.group(1).split(",")]
        table = columns[0].split(".")[0]
        wanted = {c.split(".")[1] for c in columns}
        for constraint in t.metadata.tables[table].constraints:
            names = {c.name for c in getattr(constraint, "columns", [])}
            if names == wanted and constraint.name:
                return "unique", str(constraint.name)
        return "unique", f"uq_{table}"
    return "reference", "foreign_key"


def sealer(cipher: Cipher | None) -> Cipher:
    if cipher is None:  # a programming error: the server loads the data key before serving
        raise RuntimeError("secret values cannot be read or written before the data key is loaded")
    return cipher


class RecentRows:
    """Rows `Store.read_one` fetched in the current commit epoch of the SQLite file (`Directory.commit_epoch`):
    while no connection has committed, reading the same row again gives the same values, so the second read
    is answered from here (DECISIONS.md#d67).

    Rows are kept as the database holds them: secret values stay sealed and are opened on every read, as
    they are without this. A row read in an epoch is kept only for that epoch; the first row of a newer epoch
    empties the rest. Bounded in rows and in bytes, emptied when either is reached."""

    MISSING = object()

    def __init__(self, max_rows: int = 10_000, max_bytes: int = 16 << 20):
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self._epoch = -1
        self._rows: dict[Hashable, tuple | None] = {}
        self._bytes = 0

    def get(self, epoch: int, key: Hashable) -> Any:
        if epoch != self._epoch:
            return self.MISSING
        return self._rows.get(key, self.MISSING)

    def put(self, epoch: int, key: Hashable, row: tuple | None) -> None:
        if epoch < self._epoch:  # read under an epoch another check has already ended
            return
        size = 0 if row is None else sum(len(v) for v in row if isinstance(v, (str, bytes)))
        if epoch > self._epoch or len(self._rows) >= self.max_rows or self._bytes + size > self.max_bytes:
            self._epoch, self._rows, self._bytes = epoch, {}, 0
        self._rows[key] = row
        self._bytes += size


class Store:
    """Owns the engine; hands out read and write transactions."""

    def __init__(self, url: str, changes: NodeGeneration | None = None):
        self.url = url
        self.changes = changes  # told of every committed admin change (storage.changes)
        self.engine = create_engine(url)
        self._own = threading.local()  # read_one's connection, one per thread
        # Seals secret values (storage.sealing); set once the data key is unwrapped, at start.
        self.cipher: Cipher | None = None
        self._prepared: dict[sa.Select, _Prepared] = {}
        self.recent = RecentRows()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> None:
        """Create or upgrade the schema, then make sure the root namespace exists."""
        try:
            migrate(self.engine)
        except (OperationalError, DBAPIError) as exc:
            raise Unavailable(str(exc.orig).strip().splitlines()[0]) from exc
        with self.write() as tx:
            tx.ensure_bootstrap()

    def dispose(self) -> None:
        conn = getattr(self._own, "conn", None)
        if conn is not None:
            self._own.conn = None
            _close_quietly(conn)
        self.engine.dispose()

    @contextmanager
    def read(self) -> Iterator[Tx]:
        try:
            with self.engine.connect() as conn, conn.begin():
                yield Tx(conn, self.cipher)
        except OperationalError as exc:
            raise Unavailable(str(exc.orig)) from exc

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """One transaction; commits on success, rolls everything back on any exception."""
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(vg_write=True)
                with conn.begin():
                    tx = Tx(conn, self.cipher)
                    yield tx
                    if tx.changed:
                        generation = conn.execute(_NEXT_GENERATION).scalar_one()
                        if self.dialect == "postgresql":  # sent when this commits (storage.notifications)
                            conn.execute(_NOTIFY)
            if tx.changed and self.changes is not None:
                self.changes.advance(generation)  # committed: this server's other workers must look again
        except IntegrityError as exc:
            kind, name = _constraint_name(exc)
            raise (UniqueViolation(name) if kind == "unique" else ReferenceViolation(name)) from exc
        except OperationalError as exc:
            raise Unavailable(str(exc.orig)) from exc

    def write_retrying(self, action: Callable[[Tx], T], attempts: int = 2) -> T:
        """`action` in one write transaction, run once more when a unique constraint fires.

        A constraint fires when a concurrent write committed the same key first; run again, the action's own
        checks see the winner and can refuse with a precise message (or update what now exists). The last
        attempt's UniqueViolation propagates, for the caller to word.
        """
        for attempt in range(1, attempts + 1):
            try:
                with self.write() as tx:
                    return action(tx)
            except UniqueViolation:
                if attempt == attempts:
                    raise
        raise ValueError("attempts must be at least 1")

    def read_one(self, statement: sa.Select, params: dict | None = None, epoch: int | None = None) -> tuple | None:
        """The first row of one read-only SELECT, as a named tuple, run straight on this thread's own
        autocommit DB-API connection.

        For the per-request reads (a secret, the generation): one statement is its own consistent snapshot on
        both engines, and skipping the pool checkout, BEGIN/COMMIT and SQLAlchemy's execution machinery makes
        such a read several times cheaper. `params` must be plain str/int values (no bind processing).
        A connection the database dropped is replaced once.

        `epoch`, the directory's commit epoch (`Directory.commit_epoch`, read after this request's check),
        lets the same read in the same epoch be answered from the rows read earlier in it (`RecentRows`)."""
        prepared = self._prepared.get(statement)
        if prepared is None:
            prepared = self._prepared[statement] = _Prepared.of(statement, self.engine.dialect)
        args = prepared.arguments(params or {})
        if epoch is None:
            return self._fetch_one(prepared, args)
        key = (statement, args if isinstance(args, tuple) else tuple(sorted(args.items())))
        row = self.recent.get(epoch, key)
        if row is RecentRows.MISSING:
            row = self._fetch_one(prepared, args)
            self.recent.put(epoch, key, row)
        return row

    def _fetch_one(self, prepared: _Prepared, args: tuple | dict) -> tuple | None:
        dbapi = self.engine.dialect.loaded_dbapi
        for attempt in (1, 2):
            conn = getattr(self._own, "conn", None)
            if conn is None:
                conn = self._own.conn = self._autocommit_connection()
            cursor = None
            try:
                cursor = conn.cursor()
                cursor.execute(prepared.sql, args)
                row = cursor.fetchone()
                cursor.close()
            except dbapi.Error as exc:
                if cursor is not None:
                    _close_quietly(cursor)
                if not self.engine.dialect.is_disconnect(exc, conn, cursor):
                    if isinstance(exc, dbapi.OperationalError):  # as Store.read() reports it: 503, not 500
                        raise Unavailable(str(exc)) from exc
                    raise
                self._own.conn = None
                _close_quietly(conn)
                if attempt == 2:
                    raise Unavailable(str(exc)) from exc
                continue
            return None if row is None else prepared.row(row)
        raise AssertionError("unreachable")

    def _autocommit_connection(self):  # noqa: ANN202
        try:
            conn = self.engine.raw_connection()
        except (OperationalError, self.engine.dialect.loaded_dbapi.OperationalError) as exc:
            raise Unavailable(str(getattr(exc, "orig", exc))) from exc
        # Out of the pool for good: with its own isolation level it must never serve anyone else, and it is
        # closed (not returned) when its thread ends.
        conn.detach()
        self.engine.dialect.set_isolation_level(conn.dbapi_connection, "AUTOCOMMIT")
        return conn

    def generation(self) -> int:
        row = self.read_one(_GENERATION)
        assert row is not None, "migrate() creates the generation row"
        return int(row[0])


def _entity(row: sa.Row) -> Entity:
    return Entity(
        id=row.id,
        namespace_id=row.namespace_id,
        name=row.name,
        policies=list(row.policies),
        metadata=dict(row.metadata),
        disabled=bool(row.disabled),
        creation_time=row.creation_time,
        last_update_time=row.last_update_time,
    )


def _alias(row: sa.Row) -> Alias:
    return Alias(
        id=row.id,
        namespace_id=row.namespace_id,
        canonical_id=row.canonical_id,
        name=row.name,
        mount_accessor=row.mount_accessor,
        issuer=row.issuer or "",
        external_id=row.external_id or "",
        custom_metadata=dict(row.custom_metadata),
        creation_time=row.creation_time,
        last_update_time=row.last_update_time,
    )


def _group(row: sa.Row) -> Group:
    return Group(
        id=row.id,
        namespace_id=row.namespace_id,
        name=row.name,
        type=row.type,
        policies=list(row.policies),
        metadata=dict(row.metadata),
        creation_time=row.creation_time,
        last_update_time=row.last_update_time,
        modify_index=row.modify_index,
    )


def _group_alias(row: sa.Row) -> GroupAlias:
    return GroupAlias(**row._mapping)  # the columns are the fields


def _chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    """`ids` sorted, without repeats, in pieces small enough for one IN (...) list each."""
    unique = sorted(set(ids))
    for start in range(0, len(unique), _IN_CHUNK):
        yield unique[start : start + _IN_CHUNK]


def _registration(row: sa.Row) -> Registration:
    return Registration(
        id=row.id,
        namespace_id=row.namespace_id,
        display_name=row.display_name,
        entity_id=row.entity_id,
        description=row.description,
        owner=row.owner,
        ceiling_policies=list(row.ceiling_policies),
        no_default_ceiling_policy=bool(row.no_default_ceiling_policy),
        optional_authorization_details=bool(row.optional_authorization_details),
        creation_time=row.creation_time,
        last_updated_time=row.last_updated_time,
    )


_PROFILE_COLUMNS = ("config_id", "namespace_id", "name", "issuer_id", "local")


def _profile(row: sa.Row) -> Profile:
    settings = dict(row.settings)
    settings["public_keys"] = tuple(PublicKey(**k) for k in settings.get("public_keys", ()))
    for key in ("audiences", "supported_algorithms"):
        if key in settings:
            settings[key] = tuple(settings[key])
    return Profile(
        config_id=row.config_id,
        namespace_id=row.namespace_id,
        name=row.name,
        issuer_id=row.issuer_id,
        local=bool(row.local),
        **settings,
    )


def _profile_row(profile: Profile) -> dict:
    data = asdict(profile)
    row = {k: data.pop(k) for k in _PROFILE_COLUMNS}
    data["public_keys"] = [dict(k) for k in data["public_keys"]]
    data["audiences"] = list(data["audiences"])
    data["supported_algorithms"] = list(data["supported_algorithms"])
    row["settings"] = data
    return row


def _token(row: sa.Row) -> TokenRecord:
    return TokenRecord(
        id_hash=row.id_hash,
        accessor=row.accessor,
        namespace_id=row.namespace_id,
        policies=list(row.policies),
        display_name=row.display_name,
        parent_accessor=row.parent_accessor,
        meta=dict(row.meta),
        creation_time=row.creation_time,
        expire_time=row.expire_time,
        creation_ttl=row.creation_ttl,
        explicit_max_ttl=row.explicit_max_ttl,
        num_uses=row.num_uses,
        renewable=bool(row.renewable),
        orphan=bool(row.orphan),
        entity_id=row.entity_id,
    )


class Tx:
    """Repositories bound to one open transaction."""

    def __init__(self, conn: sa.Connection, cipher: Cipher | None = None):
        self.conn = conn
        self.changed = False
        self._cipher = cipher

    @property
    def cipher(self) -> Cipher:
        """What seals and opens secret values; never absent where secrets are read or written."""
        return sealer(self._cipher)

    def _run(self, stmt):  # noqa: ANN001, ANN202
        return self.conn.execute(stmt)

    def _write(self, stmt) -> int:  # noqa: ANN001
        self.changed = True
        return self.conn.execute(stmt).rowcount

    # -- bootstrap ---------------------------------------------------------------------------------

    def ensure_bootstrap(self) -> None:
        """Root namespace and the generation counter exist exactly once."""
        if self._run(sa.select(t.generation.c.id)).first() is None:
            self._write(t.generation.insert().values(id=1, value=1))
        if self.namespace_by_id(ROOT_NAMESPACE_ID) is None:
            self.insert_namespace(Namespace(id=ROOT_NAMESPACE_ID, path=""))

    def insert_namespace(self, ns: Namespace) -> None:
        """A new namespace starts with the built-in policies."""
        self._write(t.namespaces.insert().values(id=ns.id, path=ns.path, custom_metadata=ns.custom_metadata))
        for name, text in BUILTIN_POLICIES.items():
            self.put_policy(ns.id, name, text)

    # -- namespaces --------------------------------------------------------------------------------

    def namespace_by_id(self, namespace_id: str) -> Namespace | None:
        row = self._run(sa.select(t.namespaces).where(t.namespaces.c.id == namespace_id)).first()
        return Namespace(row.id, row.path, dict(row.custom_metadata)) if row else None

    def namespace_by_path(self, path: str) -> Namespace | None:
        row = self._run(sa.select(t.namespaces).where(t.namespaces.c.path == path)).first()
        return Namespace(row.id, row.path, dict(row.custom_metadata)) if row else None

    def child_namespaces(self, parent_path: str) -> list[Namespace]:
        """Direct children of the namespace at `parent_path` ("" for root)."""
        rows = self._run(
            sa.select(t.namespaces).where(t.namespaces.c.path.startswith(parent_path, autoescape=True))
        )
        result = []
        for row in rows:
            rest = row.path[len(parent_path) :]
            if rest and rest.count("/") == 1 and rest.endswith("/"):
                result.append(Namespace(row.id, row.path, dict(row.custom_metadata)))
        return sorted(result, key=lambda n: n.path)

    def update_namespace_metadata(self, ns: Namespace) -> None:
        self._write(
            t.namespaces.update().where(t.namespaces.c.id == ns.id).values(custom_metadata=ns.custom_metadata)
        )

    def delete_namespace(self, namespace_id: str) -> None:
        """The namespace and everything it still holds (secrets, policies, tokens), in this transaction.
        Deleted explicitly rather than left to the foreign keys' cascade: a secret must never outlive its
        namespace because a connection ran without foreign keys (docs/api.md)."""
        for table in (t.kv_versions, t.kv_keys, t.kv_config, t.policies, t.profiles, t.tokens):
            self._write(table.delete().where(table.c.namespace_id == namespace_id))
        self._write(t.namespaces.delete().where(t.namespaces.c.id == namespace_id))

    def namespace_is_empty(self, namespace_id: str) -> bool:
        """No user objects other than built-in policies (Vault refuses to delete a namespace in use)."""
        for table in (t.entities, t.registrations, t.profiles, t.aliases, t.groups):
            if self._run(sa.select(table).where(table.c.namespace_id == namespace_id).limit(1)).first():
                return False
        return True

    # -- policies ----------------------------------------------------------------------------------

    def policy_text(self, namespace_id: str, name: str) -> str | None:
        row = self._run(
            sa.select(t.policies.c.text).where(
                t.policies.c.namespace_id == namespace_id, t.policies.c.name == name
            )
        ).first()
        return row.text if row else None

    def policy_texts(self, namespace_id: str, names: list[str]) -> dict[str, str]:
        if not names:
            return {}
        rows = self._run(
            sa.select(t.policies.c.name, t.policies.c.text).where(
                t.policies.c.namespace_id == namespace_id, t.policies.c.name.in_(names)
            )
        )
        return {r.name: r.text for r in rows}

    def policy_names(self, namespace_id: str) -> list[str]:
        rows = self._run(sa.select(t.policies.c.name).where(t.policies.c.namespace_id == namespace_id))
        return sorted(r.name for r in rows)

    def put_policy(self, namespace_id: str, name: str, text: str) -> None:
        updated = self._write(
            t.policies.update()
            .where(t.policies.c.namespace_id == namespace_id, t.policies.c.name == name)
            .values(text=text)
        )
        if not updated:
            self._write(t.policies.insert().values(namespace_id=namespace_id, name=name, text=text))

    def delete_policy(self, namespace_id: str, name: str) -> None:
        self._write(
            t.policies.delete().where(t.policies.c.namespace_id == namespace_id, t.policies.c.name == name)
        )

    # -- entities ----------------------------------------------------------------------------------

    def entity_by_id(self, namespace_id: str, entity_id: str) -> Entity | None:
        row = self._run(
            sa.select(t.entities).where(
                t.entities.c.namespace_id == namespace_id, t.entities.c.id == entity_id
            )
        ).first()
        return self._with_aliases(_entity(row)) if row else None

    def entity_by_name(self, namespace_id: str, name: str) -> Entity | None:
        row = self._run(
            sa.select(t.entities).where(t.entities.c.namespace_id == namespace_id, t.entities.c.name == name)
        ).first()
        return self._with_aliases(_entity(row)) if row else None

    def _with_aliases(self, entity: Entity) -> Entity:
        rows = self._run(
            sa.select(t.aliases).where(t.aliases.c.canonical_id == entity.id).order_by(t.aliases.c.id)
        )
        entity.aliases = [_alias(r) for r in rows]
        return entity

    def entities(self, namespace_id: str) -> list[Entity]:
        rows = self._run(sa.select(t.entities).where(t.entities.c.namespace_id == namespace_id))
        return [_entity(r) for r in rows]

    def existing_entity_ids(self, namespace_id: str, entity_ids: Sequence[str]) -> set[str]:
        """Those of `entity_ids` that name an entity of this namespace."""
        entities = t.entities
        return {
            r.id
            for chunk in _chunks(entity_ids)
            for r in self._run(sa.select(entities.c.id).where(entities.c.namespace_id == namespace_id,
                                                              entities.c.id.in_(chunk)))
        }  # fmt: skip

    def insert_entity(self, entity: Entity) -> None:
        self._write(t.entities.insert().values(**_entity_values(entity)))

    def update_entity(self, entity: Entity) -> None:
        self._write(t.entities.update().where(t.entities.c.id == entity.id).values(**_entity_values(entity)))

    def delete_entity(self, entity_id: str) -> None:
        # Aliases and memberships first: not every engine/connection enforces ON DELETE CASCADE identically.
        self._write(t.aliases.delete().where(t.aliases.c.canonical_id == entity_id))
        members = t.group_member_entities
        self._write(members.delete().where(members.c.entity_id == entity_id))
        self._write(t.entities.delete().where(t.entities.c.id == entity_id))

    # -- aliases -----------------------------------------------------------------------------------

    def alias_by_id(self, namespace_id: str, alias_id: str) -> Alias | None:
        row = self._run(
            sa.select(t.aliases).where(t.aliases.c.namespace_id == namespace_id, t.aliases.c.id == alias_id)
        ).first()
        return _alias(row) if row else None

    def alias_by_issuer(self, namespace_id: str, issuer: str, external_id: str) -> Alias | None:
        row = self._run(
            sa.select(t.aliases).where(
                t.aliases.c.namespace_id == namespace_id,
                t.aliases.c.issuer == issuer,
                t.aliases.c.external_id == external_id,
            )
        ).first()
        return _alias(row) if row else None

    def alias_by_mount_name(self, namespace_id: str, mount_accessor: str, name: str) -> Alias | None:
        row = self._run(
            sa.select(t.aliases).where(
                t.aliases.c.namespace_id == namespace_id,
                t.aliases.c.mount_accessor == mount_accessor,
                t.aliases.c.name == name,
            )
        ).first()
        return _alias(row) if row else None

    def aliases(self, namespace_id: str) -> list[Alias]:
        rows = self._run(sa.select(t.aliases).where(t.aliases.c.namespace_id == namespace_id))
        return [_alias(r) for r in rows]

    def insert_alias(self, alias: Alias) -> None:
        self._write(t.aliases.insert().values(**_alias_values(alias)))

    def update_alias(self, alias: Alias) -> None:
        self._write(t.aliases.update().where(t.aliases.c.id == alias.id).values(**_alias_values(alias)))

    def delete_alias(self, alias_id: str) -> None:
        self._write(t.aliases.delete().where(t.aliases.c.id == alias_id))

    # -- groups ------------------------------------------------------------------------------------

    def lock_group_graph(self, namespace_id: str) -> None:
        """Serialize changes to the namespace's membership graph until this transaction ends, so two writers
        cannot each add half of a cycle (SQLite writers are serialized already; this is for PostgreSQL)."""
        self._run(sa.select(t.namespaces.c.id).where(t.namespaces.c.id == namespace_id).with_for_update())

    def group_by_id(self, namespace_id: str, group_id: str) -> Group | None:
        return self._full_group(t.groups.c.id == group_id, namespace_id)

    def group_by_name(self, namespace_id: str, name: str) -> Group | None:
        return self._full_group(t.groups.c.name == name, namespace_id)

    def _full_group(self, where, namespace_id: str) -> Group | None:  # noqa: ANN001
        row = self._run(sa.select(t.groups).where(where, t.groups.c.namespace_id == namespace_id)).first()
        if row is None:
            return None
        group = _group(row)
        entities, nested = t.group_member_entities, t.group_member_groups
        group.member_entity_ids = sorted(
            r.entity_id for r in self._run(sa.select(entities.c.entity_id).where(entities.c.group_id == group.id))
        )
        group.member_group_ids = sorted(
            r.member_group_id
            for r in self._run(sa.select(nested.c.member_group_id).where(nested.c.group_id == group.id))
        )
        group.parent_group_ids = sorted(
            r.group_id for r in self._run(sa.select(nested.c.group_id).where(nested.c.member_group_id == group.id))
        )
        group.alias = self.group_alias_by_canonical_id(group.id)
        return group

    def groups(self, namespace_id: str) -> list[Group]:
        """Every group of the namespace, without members."""
        rows = self._run(sa.select(t.groups).where(t.groups.c.namespace_id == namespace_id))
        return [_group(r) for r in rows]

    def groups_by_ids(self, namespace_id: str, group_ids: Sequence[str]) -> list[Group]:
        """These groups, without members, in id order; ids of other namespaces are ignored."""
        found = [
            _group(r)
            for chunk in _chunks(group_ids)
            for r in self._run(sa.select(t.groups).where(t.groups.c.namespace_id == namespace_id,
                                                         t.groups.c.id.in_(chunk)))
        ]  # fmt: skip
        return sorted(found, key=lambda g: g.id)

    def group_parents(self, namespace_id: str, group_ids: Sequence[str]) -> list[tuple[str, str]]:
        """(member group id, containing group id) for every group directly containing one of `group_ids`."""
        nested = t.group_member_groups
        return sorted(
            (r.member_group_id, r.group_id)
            for chunk in _chunks(group_ids)
            for r in self._run(sa.select(nested.c.member_group_id, nested.c.group_id).where(
                nested.c.namespace_id == namespace_id, nested.c.member_group_id.in_(chunk)))
        )  # fmt: skip

    def direct_group_ids_of_entity(self, namespace_id: str, entity_id: str) -> list[str]:
        members = t.group_member_entities
        rows = self._run(
            sa.select(members.c.group_id).where(
                members.c.namespace_id == namespace_id, members.c.entity_id == entity_id
            )
        )
        return sorted(r.group_id for r in rows)

    def insert_group(self, group: Group) -> None:
        self._write(t.groups.insert().values(**_group_values(group)))

    def update_group(self, group: Group) -> None:
        self._write(t.groups.update().where(t.groups.c.id == group.id).values(**_group_values(group)))

    def set_group_members(self, group: Group, entity_ids: Sequence[str], group_ids: Sequence[str]) -> None:
        """Replace both member lists of `group` with these (already checked) ids."""
        entities, nested = t.group_member_entities, t.group_member_groups
        self._write(entities.delete().where(entities.c.group_id == group.id))
        self._write(nested.delete().where(nested.c.group_id == group.id))
        rows = [{"namespace_id": group.namespace_id, "group_id": group.id, "entity_id": e} for e in entity_ids]
        if rows:
            self._write(entities.insert().values(rows))
        rows = [{"namespace_id": group.namespace_id, "group_id": group.id, "member_group_id": g} for g in group_ids]
        if rows:
            self._write(nested.insert().values(rows))

    def delete_group(self, group_id: str) -> None:
        # Memberships (both ways) and the alias first, as for entities.
        nested = t.group_member_groups
        self._write(t.group_aliases.delete().where(t.group_aliases.c.canonical_id == group_id))
        self._write(t.group_member_entities.delete().where(t.group_member_entities.c.group_id == group_id))
        self._write(nested.delete().where(sa.or_(nested.c.group_id == group_id, nested.c.member_group_id == group_id)))
        self._write(t.groups.delete().where(t.groups.c.id == group_id))

    # -- group aliases -----------------------------------------------------------------------------

    def group_alias_by_id(self, namespace_id: str, alias_id: str) -> GroupAlias | None:
        row = self._run(
            sa.select(t.group_aliases).where(
                t.group_aliases.c.namespace_id == namespace_id, t.group_aliases.c.id == alias_id
            )
        ).first()
        return _group_alias(row) if row else None

    def group_alias_by_canonical_id(self, group_id: str) -> GroupAlias | None:
        row = self._run(sa.select(t.group_aliases).where(t.group_aliases.c.canonical_id == group_id)).first()
        return _group_alias(row) if row else None

    def group_alias_by_mount_name(self, namespace_id: str, mount_accessor: str, name: str) -> GroupAlias | None:
        row = self._run(
            sa.select(t.group_aliases).where(
                t.group_aliases.c.namespace_id == namespace_id,
                t.group_aliases.c.mount_accessor == mount_accessor,
                t.group_aliases.c.name == name,
            )
        ).first()
        return _group_alias(row) if row else None

    def group_aliases_named(
        self, namespace_id: str, mount_accessor: str, names: Sequence[str]
    ) -> list[tuple[str, str]]:
        """(alias name, group id) for each alias on `mount_accessor` with one of `names` (a groups claim)."""
        aliases = t.group_aliases
        return sorted(
            (r.name, r.canonical_id)
            for chunk in _chunks(names)
            for r in self._run(sa.select(aliases.c.name, aliases.c.canonical_id).where(
                aliases.c.namespace_id == namespace_id, aliases.c.mount_accessor == mount_accessor,
                aliases.c.name.in_(chunk)))
        )  # fmt: skip

    def group_aliases(self, namespace_id: str) -> list[GroupAlias]:
        rows = self._run(sa.select(t.group_aliases).where(t.group_aliases.c.namespace_id == namespace_id))
        return [_group_alias(r) for r in rows]

    def insert_group_alias(self, alias: GroupAlias) -> None:
        self._write(t.group_aliases.insert().values(**asdict(alias)))

    def update_group_alias(self, alias: GroupAlias) -> None:
        self._write(t.group_aliases.update().where(t.group_aliases.c.id == alias.id).values(**asdict(alias)))

    def delete_group_alias(self, alias_id: str) -> None:
        self._write(t.group_aliases.delete().where(t.group_aliases.c.id == alias_id))

    # -- registrations -----------------------------------------------------------------------------

    def registration_by_id(self, namespace_id: str, reg_id: str) -> Registration | None:
        return self._one_registration(t.registrations.c.id == reg_id, namespace_id)

    def registration_by_name(self, namespace_id: str, display_name: str) -> Registration | None:
        return self._one_registration(t.registrations.c.display_name == display_name, namespace_id)

    def registration_by_entity(self, namespace_id: str, entity_id: str) -> Registration | None:
        return self._one_registration(t.registrations.c.entity_id == entity_id, namespace_id)

    def _one_registration(self, where, namespace_id: str) -> Registration | None:  # noqa: ANN001
        row = self._run(
            sa.select(t.registrations).where(where, t.registrations.c.namespace_id == namespace_id)
        ).first()
        return _registration(row) if row else None

    def registrations(self, namespace_id: str) -> list[Registration]:
        rows = self._run(sa.select(t.registrations).where(t.registrations.c.namespace_id == namespace_id))
        return [_registration(r) for r in rows]

    def insert_registration(self, reg: Registration) -> None:
        self._write(t.registrations.insert().values(**_registration_values(reg)))

    def update_registration(self, reg: Registration) -> None:
        self._write(
            t.registrations.update().where(t.registrations.c.id == reg.id).values(**_registration_values(reg))
        )

    def delete_registration(self, reg_id: str) -> None:
        self._write(t.registrations.delete().where(t.registrations.c.id == reg_id))

    # -- profiles ----------------------------------------------------------------------------------

    def profile_by_name(self, namespace_id: str, name: str) -> Profile | None:
        row = self._run(
            sa.select(t.profiles).where(t.profiles.c.namespace_id == namespace_id, t.profiles.c.name == name)
        ).first()
        return _profile(row) if row else None

    def profile_by_config_id(self, namespace_id: str, config_id: str) -> Profile | None:
        row = self._run(
            sa.select(t.profiles).where(
                t.profiles.c.namespace_id == namespace_id, t.profiles.c.config_id == config_id
            )
        ).first()
        return _profile(row) if row else None

    def profiles_by_issuer(self, namespace_id: str, issuer_id: str) -> list[Profile]:
        rows = self._run(
            sa.select(t.profiles).where(
                t.profiles.c.namespace_id == namespace_id, t.profiles.c.issuer_id == issuer_id
            )
        )
        return [_profile(r) for r in rows]

    def profiles(self, namespace_id: str) -> list[Profile]:
        rows = self._run(sa.select(t.profiles).where(t.profiles.c.namespace_id == namespace_id))
        return [_profile(r) for r in rows]

    def insert_profile(self, profile: Profile) -> None:
        self._write(t.profiles.insert().values(**_profile_row(profile)))

    def update_profile(self, profile: Profile) -> None:
        self._write(
            t.profiles.update()
            .where(t.profiles.c.config_id == profile.config_id)
            .values(**_profile_row(profile))
        )

    def delete_profile(self, config_id: str) -> None:
        self._write(t.profiles.delete().where(t.profiles.c.config_id == config_id))

    # -- tokens ------------------------------------------------------------------------------------

    def token_by_hash(self, id_hash: str) -> TokenRecord | None:
        row = self._run(sa.select(t.tokens).where(t.tokens.c.id_hash == id_hash)).first()
        return _token(row) if row else None

    def insert_token(self, token: TokenRecord) -> None:
        self._write(t.tokens.insert().values(**asdict(token)))

    def delete_token(self, id_hash: str) -> None:
        self._write(t.tokens.delete().where(t.tokens.c.id_hash == id_hash))

    def child_tokens(self, accessor: str) -> list[TokenRecord]:
        rows = self._run(sa.select(t.tokens).where(t.tokens.c.parent_accessor == accessor))
        return [_token(r) for r in rows]

    def delete_expired_tokens(self, now: float) -> int:
        return self._write(
            t.tokens.delete().where(t.tokens.c.expire_time.is_not(None), t.tokens.c.expire_time <= now)
        )


def _entity_values(e: Entity) -> dict:
    return {
        "id": e.id,
        "namespace_id": e.namespace_id,
        "name": e.name,
        "policies": list(e.policies),
        "metadata": dict(e.metadata),
        "disabled": e.disabled,
        "creation_time": e.creation_time,
        "last_update_time": e.last_update_time,
    }


def _group_values(g: Group) -> dict:
    return {
        "id": g.id,
        "namespace_id": g.namespace_id,
        "name": g.name,
        "type": g.type,
        "policies": list(g.policies),
        "metadata": dict(g.metadata),
        "creation_time": g.creation_time,
        "last_update_time": g.last_update_time,
        "modify_index": g.modify_index,
    }


def _alias_values(a: Alias) -> dict:
    return {
        "id": a.id,
        "namespace_id": a.namespace_id,
        "canonical_id": a.canonical_id,
        "name": a.name,
        "mount_accessor": a.mount_accessor,
        "issuer": a.issuer or None,
        "external_id": a.external_id or None,
        "custom_metadata": dict(a.custom_metadata),
        "creation_time": a.creation_time,
        "last_update_time": a.last_update_time,
    }


def _registration_values(r: Registration) -> dict:
    return {
        "id": r.id,
        "namespace_id": r.namespace_id,
        "display_name": r.display_name,
        "entity_id": r.entity_id,
        "description": r.description,
        "owner": r.owner,
        "ceiling_policies": list(r.ceiling_policies),
        "no_default_ceiling_policy": r.no_default_ceiling_policy,
        "optional_authorization_details": r.optional_authorization_details,
        "creation_time": r.creation_time,
        "last_updated_time": r.last_updated_time,
    }
