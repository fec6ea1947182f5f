"""NOTIFY on every committed admin write, and the listener that raises the server's shared generation."""

from __future__ import annotations

import os
import time
import uuid

import pytest
import sqlalchemy as sa

from vaultguard.service.identity.model import Namespace
from vaultguard.service.storage.changes import NodeGeneration, create_file
from vaultguard.service.storage.directory import Directory
from vaultguard.service.storage.notifications import APPLICATION_NAME, GenerationListener, libpq_conninfo
from vaultguard.service.storage.store import Store

pytestmark = pytest.mark.pg


@pytest.fixture
def node_and_stores(pg_database):
    path = create_file()
    mine = Store(pg_database, changes=NodeGeneration(path))
    replica = Store(pg_database)  # another server on the same database
    mine.migrate()
    yield NodeGeneration(path), mine, replica
    for store in (mine, replica):
        store.dispose()
    os.unlink(path)


@pytest.fixture
def listener(pg_database, node_and_stores):
    node = node_and_stores[0]
    started = GenerationListener(pg_database, node.advance).start()
    assert started.connected.wait(10), "the listener did not connect"
    yield started
    started.stop()


def add_namespace(store: Store) -> None:
    with store.write() as tx:
        name = "n" + uuid.uuid4().hex[:8]
        tx.insert_namespace(Namespace(id=name, path=f"{name}/"))


def wait_for(condition, seconds: float) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, "not within the time allowed"
        time.sleep(0.005)
    return time.monotonic() - started


def test_a_write_through_another_replica_reaches_this_server_by_notification(node_and_stores, listener):
    node, mine, replica = node_and_stores
    directory = Directory(mine, replica_bound=60)  # polling alone would take a minute
    before = directory.current().generation

    add_namespace(replica)

    wait_for(lambda: node.newest() == before + 1, 2)
    assert directory.current().generation == before + 1


def test_a_write_that_rolls_back_notifies_nobody(node_and_stores, listener):
    node, mine, replica = node_and_stores
    before = mine.generation()
    node.advance(before)

    with pytest.raises(RuntimeError), replica.write() as tx:
        tx.insert_namespace(Namespace(id="n" + uuid.uuid4().hex[:8], path="rolled-back/"))
        raise RuntimeError("abandoned")
    time.sleep(0.3)

    assert node.newest() == before == mine.generation()


def test_the_listener_reconnects_and_catches_up_on_what_it_missed(pg_database, node_and_stores, listener):
    node, mine, replica = node_and_stores
    engine = sa.create_engine(pg_database)
    with engine.connect() as conn:
        ended = conn.execute(
            sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = :name AND datname = current_database()"),
            {"name": APPLICATION_NAME},
        ).fetchall()  # fmt: skip
    engine.dispose()
    assert ended, "no listening backend found"
    add_namespace(replica)  # while the listener is away (or just back)
    expected = mine.generation()

    wait_for(lambda: node.newest() == expected, 5)
    wait_for(listener.connected.is_set, 5)
    add_namespace(replica)
    wait_for(lambda: node.newest() == expected + 1, 2)


def test_the_conninfo_is_the_urls_libpq_form():
    assert libpq_conninfo("postgresql+psycopg://u:p%40ss@127.0.0.1:5432/db?sslmode=disable") == (
        "postgresql://u:p%40ss@127.0.0.1:5432/db?sslmode=disable"
    )
