"""The KV v2 repository on a real (SQLite) store: what each change leaves in the tables."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import vgtest
from vaultguard.service.identity.model import Namespace
from vaultguard.service.secrets import rules
from vaultguard.service.secrets.model import EngineConfig
from vaultguard.service.storage import tables as t
from vaultguard.service.storage.kv import SecretsRepository, read_version
from vaultguard.service.storage.store import Store

NOW = 1_700_000_000 * 1_000_000
NS = "root"


@pytest.fixture
def store(tmp_path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'kv.db'}")
    store.migrate()
    vgtest.unseal(store)
    yield store
    store.dispose()


def write(store: Store, path: str, data: dict, namespace_id: str = NS, config: EngineConfig | None = None):  # noqa: ANN201
    with store.write() as tx:
        repo = SecretsRepository(tx)
        key = repo.key(namespace_id, path, lock=True)
        change = rules.write_version(key, path, config or repo.config(namespace_id), None, NOW)
        repo.save(namespace_id, change, rules.encode_data(data))
        return change


def stored_versions(store: Store, path: str) -> dict[int, str | None]:
    with store.read() as tx:
        rows = tx.conn.execute(
            sa.select(t.kv_versions.c.version, t.kv_versions.c.data).where(t.kv_versions.c.path == path)
        )
        return {r.version: r.data for r in rows}


def test_a_written_version_reads_back_in_one_query(store):
    write(store, "a/b", {"x": 1})
    write(store, "a/b", {"x": 2})
    key, version, data = read_version(store, NS, "a/b", 0)
    assert key.current_version == 2 and version.number == 2 and data == '{"x":2}'
    assert read_version(store, NS, "a/b", 1)[2] == '{"x":1}'
    assert read_version(store, NS, "a/b", 9)[1:] == (None, None)
    assert read_version(store, NS, "nope", 0) is None


def test_pruned_versions_are_removed_from_storage(store):
    for i in range(4):
        write(store, "k", {"i": i}, config=EngineConfig(max_versions=2))
    assert sorted(stored_versions(store, "k")) == [3, 4]


def test_destroy_removes_the_stored_data(store):
    write(store, "k", {"secret": "s"})
    with store.write() as tx:
        repo = SecretsRepository(tx)
        repo.save(NS, rules.destroy_versions(repo.key(NS, "k", lock=True), [1]))
    assert stored_versions(store, "k") == {1: None}


def test_secret_writes_do_not_bump_the_admin_generation(store):
    before = store.generation()
    write(store, "k", {"a": 1})
    with store.write() as tx:
        SecretsRepository(tx).put_config(NS, EngineConfig(max_versions=3))
    assert store.generation() == before


def test_paths_are_listed_by_prefix_with_like_wildcards_taken_literally(store):
    for path in ("a_b/x", "axb/y", "a%/z", "top"):
        write(store, path, {})
    with store.read() as tx:
        repo = SecretsRepository(tx)
        assert repo.paths(NS, "a_b/") == ["a_b/x"]
        assert repo.paths(NS, "a%/") == ["a%/z"]
        assert sorted(repo.paths(NS, "")) == ["a%/z", "a_b/x", "axb/y", "top"]


def test_deleting_a_key_removes_its_versions(store):
    write(store, "k", {"a": 1})
    with store.write() as tx:
        SecretsRepository(tx).delete_key(NS, "k")
    assert stored_versions(store, "k") == {}
    with store.read() as tx:
        assert SecretsRepository(tx).key(NS, "k") is None


def test_deleting_a_namespace_deletes_its_engine(store):
    with store.write() as tx:
        tx.insert_namespace(Namespace(id="ns1", path="team/"))
    write(store, "k", {"a": 1}, namespace_id="ns1")
    with store.write() as tx:
        SecretsRepository(tx).put_config("ns1", EngineConfig(max_versions=3))
    with store.write() as tx:
        tx.delete_namespace("ns1")
    with store.read() as tx:
        for table in (t.kv_keys, t.kv_versions, t.kv_config):
            assert tx.conn.execute(sa.select(table).where(table.c.namespace_id == "ns1")).first() is None
