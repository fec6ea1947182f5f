"""The per-generation directory: reused while nothing changed, replaced as soon as anyone commits."""

from __future__ import annotations

import pytest

from vaultguard.service.identity.model import Namespace
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
