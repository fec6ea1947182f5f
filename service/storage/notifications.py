"""Push for admin changes between replicas on PostgreSQL: NOTIFY on every committed write, LISTEN per node.

Every admin write sends `NOTIFY vaultguard_generation` in its own transaction (Store.write), so PostgreSQL
delivers it exactly when the write commits. Each server runs one `GenerationListener` (a thread of the server's
main process, one database connection per node): on a notification it reads the generation row and records it
in the node's shared generation (storage.changes); every worker of the node then sees that its view is older
and reads the database again before its next request (storage.directory).

The listener only hurries things up. Each worker still reads the generation at least once per
`replica_propagation_bound` whatever the listener does, so while its connection is down (database restarting,
network cut) changes are enforced within that bound, as without it. After reconnecting, the listener reads the
generation once, covering whatever was notified while it was away. A notification's payload is not trusted:
another deployment sharing the database could send the same channel name, which costs one query and no more.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import sqlalchemy as sa

log = logging.getLogger("vaultguard")

CHANNEL = "vaultguard_generation"
# How the listening connection shows in pg_stat_activity.
APPLICATION_NAME = "vaultguard change listener"
# How long one wait for notifications lasts before the loop checks whether it should stop.
_WAIT_SECONDS = 1.0
# Reconnection backoff while the database is unreachable.
_RETRY_FIRST, _RETRY_MAX = 0.1, 2.0


def libpq_conninfo(url: str) -> str:
    """The libpq connection string of a SQLAlchemy PostgreSQL URL (`postgresql+psycopg://...`)."""
    parsed = sa.engine.make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


class GenerationListener:
    """A daemon thread that LISTENs on one connection and calls `advance(generation)` for each change."""

    def __init__(self, url: str, advance: Callable[[int], None]):
        self._conninfo = libpq_conninfo(url)
        self._advance = advance
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="generation-listener", daemon=True)
        self.connected = threading.Event()  # set while LISTEN is active (tests and metrics read it)

    def start(self) -> GenerationListener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=_WAIT_SECONDS + 2)

    def _run(self) -> None:
        import psycopg

        delay = _RETRY_FIRST
        while not self._stopping.is_set():
            try:
                with psycopg.connect(
                    self._conninfo, autocommit=True, connect_timeout=5, application_name=APPLICATION_NAME
                ) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._read_generation(conn)  # whatever changed while not listening
                    self.connected.set()
                    delay = _RETRY_FIRST
                    while not self._stopping.is_set():
                        # One read of the generation answers every notification that arrived before it.
                        if any(True for _ in conn.notifies(timeout=_WAIT_SECONDS, stop_after=1)):
                            self._read_generation(conn)
            except psycopg.Error as exc:
                if self._stopping.is_set():
                    break
                log.warning("change notifications unavailable (%s); replicas fall back to the bound", exc)
            finally:
                self.connected.clear()
            self._stopping.wait(delay)
            delay = min(delay * 2, _RETRY_MAX)

    def _read_generation(self, conn) -> None:  # noqa: ANN001 - a psycopg connection
        row = conn.execute("SELECT value FROM generation").fetchone()
        if row is not None:
            self._advance(int(row[0]))
