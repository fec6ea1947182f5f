"""Worker processes for `vaultguard server --workers N` (N > 1).

Each worker listens on a socket of its own, bound with SO_REUSEPORT, so the kernel spreads new connections
evenly across workers. With one shared socket (uvicorn's own multi-worker mode), the worker that wakes first
accepts a whole burst of connections: on the HTTP benchmark one of two workers took all 32 connections while
the other idled, and p99 latency at half load tripled.

The supervisor restarts a worker that dies, and stops them all on SIGINT or SIGTERM.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
import time
from typing import Any

log = logging.getLogger("vaultguard")

_spawn = multiprocessing.get_context("spawn")
STARTUP_FAILURE = 3  # uvicorn's exit status when a worker cannot start; restarting would not help


def supported() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def run(options: dict[str, Any], workers: int) -> None:
    """Serve with `workers` processes, each running `uvicorn.Server(uvicorn.Config(**options))`."""
    stopping = False

    def stop(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    processes = [_start(options) for _ in range(workers)]
    try:
        while not stopping:
            for index, process in enumerate(processes):
                if process.is_alive() or stopping:
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    log.error("a worker could not start; stopping")
                    stopping = True
                    break
                log.error("worker %s exited with status %s; starting another", process.pid, process.exitcode)
                processes[index] = _start(options)
            time.sleep(0.2)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=30)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if any(p.exitcode == STARTUP_FAILURE for p in processes):
        sys.exit(STARTUP_FAILURE)


def _start(options: dict[str, Any]) -> multiprocessing.process.BaseProcess:
    process = _spawn.Process(target=_serve, args=(options,))
    process.start()
    return process


def _serve(options: dict[str, Any]) -> None:
    import uvicorn

    config = uvicorn.Config(**options)
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((config.host, config.port))
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", config.host, config.port, exc.strerror or exc)
        sys.exit(STARTUP_FAILURE)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # the supervisor stops us; nothing to report
        pass
