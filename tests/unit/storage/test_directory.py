"""The per-generation directory: reused while nothing changed, replaced as soon as anyone commits."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from vaultguard.service.identity.model import Namespace
from vaultguard.service.storage.changes import NodeGeneration, create_file
from vaultguard.service.storage.directory import Directory
from vaultguard.service.storage.store import Store


@pytest.fixture
def stores(tmp_path):
    url = f"sqlite:///{tmp_path / 'directory.db'}"
    first = Store(url)
    first.migrate()
    yield first, Store(url)  # the second stands for another worker or process on the same file
    first.dispose()


def add_namespace(store: Store, name: str) -> None:
    with store.write() as tx:
        tx.insert_namespace(Namespace(id=name, path=f"{name}/"))


def test_the_view_is_reused_while_nobody_commits(stores):
    directory = Directory(stores[0])
    view = directory.current()
    assert directory.current() is view
    assert view.namespace("absent") is None


def test_a_commit_by_another_connection_replaces_the_view_on_the_next_call(stores):
    first, other = stores
    directory = Directory(first)
    before = directory.current()
    assert before.namespace("team") is None
    add_namespace(other, "team")
    after = directory.current()
    assert after is not before and after.generation == before.generation + 1
    assert after.namespace("team") is not None


def test_a_commit_through_the_same_store_is_seen_too(stores):
    first, _ = stores
    directory = Directory(first)
    before = directory.current()
    add_namespace(first, "mine")
    assert directory.current().generation == before.generation + 1


def test_a_commit_that_leaves_the_generation_alone_keeps_the_view(stores):
    first, other = stores
    directory = Directory(first)
    view = directory.current()
    with other.write():
        pass  # commits nothing that bumps the generation (as KV writes do)
    assert directory.current() is view


# --- PostgreSQL: this server's changes at once, other replicas' within the bound ------------------------------


@pytest.fixture
def pg_stores(pg_database):
    counter = create_file()
    worker = Store(pg_database, changes=NodeGeneration(counter))
    other_worker = Store(pg_database, changes=NodeGeneration(counter))  # same server, another worker
    replica = Store(pg_database)  # another server on the same database
    worker.migrate()
    yield worker, other_worker, replica
    for store in (worker, other_worker, replica):
        store.dispose()
    os.unlink(counter)


def test_a_change_through_this_server_is_seen_on_the_next_call_whatever_the_bound(pg_stores):
    worker, other_worker, _ = pg_stores
    directory = Directory(worker, replica_bound=60)
    before = directory.current()
    assert directory.current() is before
    add_namespace(other_worker, "n" + uuid.uuid4().hex[:8])
    assert directory.current().generation == before.generation + 1
    add_namespace(worker, "n" + uuid.uuid4().hex[:8])
    assert directory.current().generation == before.generation + 2


def test_a_change_through_another_replica_is_seen_once_the_bound_has_passed(pg_stores):
    worker, _, replica = pg_stores
    bound = 0.4
    directory = Directory(worker, replica_bound=bound)
    before = directory.current()
    add_namespace(replica, "n" + uuid.uuid4().hex[:8])
    changed_at = time.monotonic()
    assert directory.current() is before, "within the bound the database is not asked again"
    while directory.current() is before:
        assert time.monotonic() - changed_at < bound + 0.2, "not seen within the bound"
        time.sleep(0.01)
    assert directory.current().generation == before.generation + 1


def test_a_bound_of_zero_asks_the_database_on_every_call(pg_stores):
    worker, _, replica = pg_stores
    directory = Directory(worker, replica_bound=0)
    before = directory.current()
    add_namespace(replica, "n" + uuid.uuid4().hex[:8])
    assert directory.current().generation == before.generation + 1


def test_once_one_worker_has_seen_a_change_no_worker_of_the_server_serves_older_data(pg_stores):
    worker, other_worker, replica = pg_stores
    eager = Directory(worker, replica_bound=0.2)  # looks again soon
    lazy = Directory(other_worker, replica_bound=60)  # would not look again for a minute on its own
    before = eager.current()
    assert lazy.current().generation == before.generation
    add_namespace(replica, "n" + uuid.uuid4().hex[:8])
    changed_at = time.monotonic()
    while eager.current().generation == before.generation:
        assert time.monotonic() - changed_at < 2, "the eager worker never looked again"
        time.sleep(0.02)
    assert lazy.current().generation == before.generation + 1, "the other worker served an older view"
