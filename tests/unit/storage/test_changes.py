"""The newest generation a server's workers share: raised by any process, seen by all, never lowered."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import pytest

from vaultguard.service.storage.changes import NodeGeneration, create_file

# Spawned, not forked: a fork of a pytest worker whose other threads hold locks can hang forever.
SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture
def path():
    created = create_file()
    yield created
    os.unlink(created)


def test_a_new_file_is_at_zero_and_private(path):
    assert NodeGeneration(path).newest() == 0
    assert os.stat(path).st_mode & 0o077 == 0


def test_an_advance_by_one_process_is_seen_by_another(path):
    mine, theirs = NodeGeneration(path), NodeGeneration(path)
    mine.advance(5)
    assert theirs.newest() == 5
    theirs.advance(7)
    assert mine.newest() == 7


def test_an_older_generation_never_lowers_it(path):
    node = NodeGeneration(path)
    node.advance(9)
    node.advance(3)  # a worker that read the database before another worker's write committed
    assert node.newest() == 9


def _advance_through(args: tuple[str, int]) -> None:
    path, offset = args
    node = NodeGeneration(path)
    for generation in range(offset, 2000, 4):
        node.advance(generation)


def test_advances_racing_from_several_processes_keep_the_highest(path):
    with ProcessPoolExecutor(4, mp_context=SPAWN) as pool:
        list(pool.map(_advance_through, [(path, offset) for offset in range(4)]))
    assert NodeGeneration(path).newest() == 1999
