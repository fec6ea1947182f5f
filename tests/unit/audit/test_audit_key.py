"""The per-server audit HMAC key: created once, stored, the same for every process that races to create it."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import vgtest
from vaultguard.service.audit.key import KEY_BYTES, load_or_create_key
from vaultguard.service.storage.store import Store

# Spawned, not forked: a fork of a pytest worker whose other threads hold locks can hang forever.
SPAWN = multiprocessing.get_context("spawn")


def _key_of(url: str) -> bytes:
    store = vgtest.unseal(Store(url))
    try:
        return load_or_create_key(store)
    finally:
        store.dispose()


def test_the_key_is_created_once_and_read_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'vg.db'}"
    store = Store(url)
    store.migrate()
    vgtest.unseal(store)
    try:
        first = load_or_create_key(store)
        assert len(first) == KEY_BYTES
        assert load_or_create_key(store) == first
    finally:
        store.dispose()
    assert _key_of(url) == first, "a restarted server hashes tokens to the same values"


def test_processes_racing_at_first_start_all_get_the_same_key(tmp_path):
    url = f"sqlite:///{tmp_path / 'vg.db'}"
    store = Store(url)
    store.migrate()
    store.dispose()
    with ProcessPoolExecutor(6, mp_context=SPAWN) as pool:
        keys = set(pool.map(_key_of, [url] * 12))
    assert len(keys) == 1


def test_two_databases_get_different_keys(tmp_path):
    keys = []
    for name in ("a.db", "b.db"):
        store = Store(f"sqlite:///{tmp_path / name}")
        store.migrate()
        vgtest.unseal(store)
        keys.append(load_or_create_key(store))
        store.dispose()
    assert keys[0] != keys[1]
