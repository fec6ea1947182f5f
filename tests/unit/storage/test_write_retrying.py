"""Store.write_retrying: a write that loses a race on a unique constraint runs once more and sees the winner."""

from __future__ import annotations

import pytest

import vgtest
from vaultguard.service.identity.model import Namespace
from vaultguard.service.storage.store import Store, Tx, UniqueViolation


@pytest.fixture
def store(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'retry.db'}")
    store.migrate()
    vgtest.unseal(store)
    yield store
    store.dispose()


def _winner(store: Store, path: str) -> Namespace:
    """A concurrent writer that commits the same key first."""
    ns = Namespace(id="winner", path=path)
    with store.write() as tx:
        tx.insert_namespace(ns)
    return ns


def test_the_loser_of_a_race_runs_again_and_sees_the_winner(store: Store) -> None:
    _winner(store, "team/")
    attempts: list[Namespace | None] = []

    def create(tx: Tx) -> Namespace:
        # The first run looked before the winner committed (on PostgreSQL both transactions overlap; SQLite
        # serializes writers, so the stale look is played here): it saw nothing and inserts.
        existing = tx.namespace_by_path("team/") if attempts else None
        attempts.append(existing)
        if existing is not None:
            return existing
        ns = Namespace(id="loser", path="team/")
        tx.insert_namespace(ns)
        return ns

    result = store.write_retrying(create)

    assert result.id == "winner"
    assert [a.id if a else None for a in attempts] == [None, "winner"]


def test_the_last_conflict_reaches_the_caller_and_nothing_is_written(store: Store) -> None:
    _winner(store, "taken/")
    generation = store.generation()
    runs = []

    def insert_anyway(tx: Tx) -> None:
        runs.append(1)
        tx.insert_namespace(Namespace(id=f"attempt-{len(runs)}", path="taken/"))

    with pytest.raises(UniqueViolation):
        store.write_retrying(insert_anyway, attempts=3)

    assert len(runs) == 3
    assert store.generation() == generation
    with store.read() as tx:
        assert tx.namespace_by_path("taken/").id == "winner"


def test_other_errors_are_not_retried(store: Store) -> None:
    runs = []

    def refuse(tx: Tx) -> None:
        runs.append(1)
        raise ValueError("a domain rule refused the write")

    with pytest.raises(ValueError, match="domain rule"):
        store.write_retrying(refuse)
    assert runs == [1]
