"""The change counter a server's workers share: every bump seen by every process, none lost in a race."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor

import pytest

from vaultguard.service.storage.changes import LocalChanges, create_file


@pytest.fixture
def path():
    created = create_file()
    yield created
    os.unlink(created)


def test_a_new_counter_is_zero_and_private(path):
    assert LocalChanges(path).value() == 0
    assert os.stat(path).st_mode & 0o077 == 0


def test_a_bump_by_one_process_is_seen_by_another(path):
    mine, theirs = LocalChanges(path), LocalChanges(path)
    mine.bump()
    assert theirs.value() == 1
    theirs.bump()
    assert mine.value() == 2


def _bump_many(path: str) -> None:
    changes = LocalChanges(path)
    for _ in range(500):
        changes.bump()


def test_bumps_racing_from_several_processes_are_never_lost(path):
    with ProcessPoolExecutor(4) as pool:
        list(pool.map(_bump_many, [path] * 4))
    assert LocalChanges(path).value() == 2000
