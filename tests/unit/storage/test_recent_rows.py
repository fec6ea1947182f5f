"""The rows of one commit epoch (storage.store.RecentRows), and the epoch the directory keeps on SQLite."""

from __future__ import annotations

import pytest

import vgtest
from vaultguard.service.identity.model import ROOT_NAMESPACE_ID
from vaultguard.service.secrets import rules
from vaultguard.service.secrets.model import EngineConfig, now_micros
from vaultguard.service.storage.directory import Directory
from vaultguard.service.storage.kv import SecretsRepository, read_version
from vaultguard.service.storage.store import RecentRows, Store

MISSING = RecentRows.MISSING


def test_a_row_is_answered_only_in_the_epoch_it_was_read_in():
    rows = RecentRows()
    rows.put(3, "k", ("a",))
    assert rows.get(3, "k") == ("a",)
    assert rows.get(4, "k") is MISSING
    rows.put(4, "other", ("b",))  # the first row of a newer epoch empties the rest
    assert rows.get(4, "k") is MISSING and rows.get(4, "other") == ("b",)


def test_a_row_read_under_an_epoch_that_has_ended_is_not_kept():
    """A check (another thread) may end the epoch between a read and its put: that row may predate a commit."""
    rows = RecentRows()
    rows.put(5, "new", ("fresh",))
    rows.put(4, "old", ("stale",))
    assert rows.get(4, "old") is MISSING and rows.get(5, "new") == ("fresh",)


def test_an_absent_row_is_remembered_as_absent():
    rows = RecentRows()
    rows.put(1, "k", None)
    assert rows.get(1, "k") is None


@pytest.mark.parametrize("bound", ["rows", "bytes"])
def test_reaching_a_bound_empties_the_rows(bound):
    rows = RecentRows(max_rows=2) if bound == "rows" else RecentRows(max_bytes=10)
    rows.put(1, "a", ("12345",))
    rows.put(1, "b", ("6789",))
    rows.put(1, "c", ("0123",))  # a third row, or 13 bytes
    assert rows.get(1, "a") is MISSING and rows.get(1, "b") is MISSING and rows.get(1, "c") == ("0123",)


# --- with the SQLite file: what the epoch protects -----------------------------------------------------------


@pytest.fixture
def stores(tmp_path):
    url = f"sqlite:///{tmp_path / 'recent.db'}"
    first = Store(url)
    first.migrate()
    vgtest.unseal(first)
    other = Store(url)  # another worker, or the CLI, on the same file
    other.cipher = first.cipher
    yield first, other
    other.dispose()
    first.dispose()


def write(store: Store, value: str) -> None:
    with store.write() as tx:
        repo = SecretsRepository(tx)
        key = repo.key(ROOT_NAMESPACE_ID, "app/db", lock=True)
        change = rules.write_version(key, "app/db", EngineConfig(), None, now_micros())
        repo.save(ROOT_NAMESPACE_ID, change, f'{{"password": "{value}"}}')


def read(store: Store, directory: Directory) -> str | None:
    directory.current()  # the request's check, as identify() makes it
    found = read_version(store, ROOT_NAMESPACE_ID, "app/db", 0, directory.commit_epoch)
    return None if found is None else found[2]


def counting_fetches(store: Store, monkeypatch) -> list[int]:
    fetches: list[int] = []
    real = store._fetch_one

    def fetch(*args):  # noqa: ANN002, ANN202
        fetches.append(1)
        return real(*args)

    monkeypatch.setattr(store, "_fetch_one", fetch)
    return fetches


def test_the_same_read_in_the_same_epoch_is_answered_from_memory_and_stays_sealed(stores, monkeypatch):
    first, _ = stores
    write(first, "one")
    directory = Directory(first)
    fetches = counting_fetches(first, monkeypatch)
    # The first call makes the view without a check; the second check ends the epoch that call read in.
    assert [read(first, directory) for _ in range(2)] == ['{"password": "one"}'] * 2
    fetches.clear()
    assert [read(first, directory) for _ in range(3)] == ['{"password": "one"}'] * 3
    assert fetches == []
    kept = [row for row in first.recent._rows.values() if row is not None]
    assert kept and all("one" not in str(row.v_data) for row in kept)  # sealed, as stored


@pytest.mark.parametrize("writer", ["another store", "the same store"])
def test_a_secret_write_by_any_connection_is_read_on_the_next_check(stores, writer):
    """Secret writes leave the generation alone; the commit epoch still moves."""
    first, other = stores
    write(first, "one")
    directory = Directory(first)
    for _ in range(3):
        assert read(first, directory) == '{"password": "one"}'
    write(other if writer == "another store" else first, "two")
    assert read(first, directory) == '{"password": "two"}'


def test_without_a_commit_watch_there_is_no_epoch(pg_database):
    store = Store(pg_database)
    try:
        store.migrate()
        assert Directory(store).commit_epoch is None
    finally:
        store.dispose()
