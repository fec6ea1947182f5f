"""`--workers N`: each worker listens on its own SO_REUSEPORT socket, so connections spread across workers,
and the supervisor replaces a worker that dies."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pytest
import requests

import vgtest
from vaultguard.service import workers

pytestmark = pytest.mark.skipif(not workers.supported(), reason="needs SO_REUSEPORT")


@pytest.fixture
def supervisor():
    port = vgtest.free_port()
    options = {"app": "pid_app:app", "host": "127.0.0.1", "port": port, "log_level": "warning", "http": "h11"}
    process = multiprocessing.get_context("spawn").Process(target=workers.run, args=(options, 2))
    process.start()
    url = f"http://127.0.0.1:{port}/"
    try:
        yield process, url
    finally:
        process.terminate()
        process.join(timeout=30)


def serving_pids(url: str, connections: int = 32, timeout: float = 30) -> set[int]:
    """The worker pids answering on `connections` separate connections, once both workers listen."""
    deadline = time.monotonic() + timeout
    while True:
        pids: set[int] = set()
        for _ in range(connections):
            try:
                with requests.Session() as session:  # a new connection each time
                    pids.add(int(session.get(url, timeout=5).text))
            except requests.ConnectionError:
                pass
        if len(pids) >= 2 or time.monotonic() > deadline:
            return pids
        time.sleep(0.2)


def test_connections_are_spread_over_every_worker(supervisor):
    _, url = supervisor
    assert len(serving_pids(url)) == 2


def test_a_worker_that_dies_is_replaced(supervisor):
    process, url = supervisor
    before = serving_pids(url)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    pids = serving_pids(url)  # waits for two workers again: the survivor and the replacement
    assert victim not in pids and len(pids) == 2
    assert process.is_alive()


def test_sigterm_stops_every_worker(supervisor):
    process, url = supervisor
    pids = serving_pids(url)
    os.kill(process.pid, signal.SIGTERM)
    process.join(timeout=30)
    assert process.exitcode == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
