"""Store.read_one: the per-thread autocommit connection behind the per-request reads, on both engines."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

import vgtest
from vaultguard.service.identity.model import ROOT_NAMESPACE_ID, Namespace
from vaultguard.service.secrets import rules
from vaultguard.service.secrets.model import EngineConfig
from vaultguard.service.storage.kv import SecretsRepository, read_version
from vaultguard.service.storage.store import Store, Unavailable

BACKEND_PID = sa.select(sa.func.pg_backend_pid().label("pid"))

@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'read_one.db'}"
    return request.getfixturevalue("pg_database")


@pytest.fixture
def stores(url):
    first = Store(url)
    first.migrate()
    vgtest.unseal(first)
    other = Store(url)  # another worker or replica on the same database
    yield first, other
    other.dispose()
    first.dispose()


def test_each_read_sees_every_commit_made_before_it(stores):
    """A connection left inside a transaction would keep answering from its old snapshot."""
    first, other = stores
    seen = [first.generation()]
    for _ in range(3):
        with other.write() as tx:
            tx.insert_namespace(Namespace(id=f"ns{len(seen)}", path=f"ns{len(seen)}/"))
        seen.append(first.generation())
    assert seen == [seen[0] + i for i in range(4)]


def test_each_thread_reads_on_its_own_connection(stores):
    first, _ = stores
    first.generation()
    seen: list[int] = []
    thread = threading.Thread(target=lambda: seen.append(first.generation()))
    thread.start()
    thread.join()
    assert seen == [first.generation()]


def test_a_connection_the_database_dropped_is_replaced(pg_database):
    first, other = Store(pg_database), Store(pg_database)
    try:
        first.migrate()
        before = first.generation()
        pid = first.read_one(BACKEND_PID)[0]
        with other.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        assert first.generation() == before
        assert first.read_one(BACKEND_PID)[0] != pid
    finally:
        other.dispose()
        first.dispose()


def test_values_come_back_typed_as_through_sqlalchemy(stores):
    """JSON and boolean columns get their types' result processing (SQLite stores them as text and 0/1)."""
    first, _ = stores
    metadata = {"owner": "team-a", "tier": "gold"}
    with first.write() as tx:
        repo = SecretsRepository(tx)
        change = rules.write_version(None, "app/db", EngineConfig(), None, 1_700_000_000_000_000)
        change.key.custom_metadata = metadata
        change.key.cas_required = True
        repo.save(ROOT_NAMESPACE_ID, change, '{"password": "s3cret"}')
    key, version, data = read_version(first, ROOT_NAMESPACE_ID, "app/db", 0)
    with first.read() as tx:
        expected = SecretsRepository(tx).key(ROOT_NAMESPACE_ID, "app/db")
    assert key.custom_metadata == metadata and key.cas_required is True
    assert (key.current_version, key.created_time, key.max_versions) == (
        expected.current_version, expected.created_time, expected.max_versions)  # fmt: skip
    assert version.number == 1 and version.destroyed is False and data == '{"password": "s3cret"}'


def test_a_database_that_is_gone_is_reported_unavailable():
    """Not a driver error (500): the same Unavailable (503) that Store.read() raises."""
    if not vgtest.pg_available():
        pytest.skip("PostgreSQL at 127.0.0.1:5432 is not reachable")
    name, url = vgtest.create_pg_database()
    store = Store(url)
    try:
        store.migrate()
        store.generation()
        vgtest.drop_pg_database(name)  # WITH (FORCE): ends the store's connections too
        with pytest.raises(Unavailable):
            store.generation()
    finally:
        store.dispose()
        vgtest.drop_pg_database(name)
