"""A counter of admin changes, shared by the worker processes of one server.

On PostgreSQL, asking the database whether anything changed costs a round trip on every request.
DECISIONS.md#d54 lets a change made through another replica take effect within a bound (default 1 s), but a change made
through this server must take effect on its very next request, in every worker. So each worker bumps this
counter after it commits an admin change, and a worker asks the database again only when the counter has
moved or the bound has passed (storage.directory).

The counter is 8 bytes of a small file that every worker maps into memory, read and written under the file's
lock (two system calls, about a microsecond, against a database round trip of a hundred or more). The server
creates the file before it starts its workers and removes it when it stops.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
import tempfile
import threading

_COUNTER = struct.Struct("<Q")


def create_file() -> str:
    """A new counter file at zero, private to this user; the caller removes it."""
    fd, path = tempfile.mkstemp(prefix="vaultguard-changes-")
    try:
        os.write(fd, bytes(_COUNTER.size))
    finally:
        os.close(fd)
    return path


class LocalChanges:
    """One process's view of the shared counter."""

    def __init__(self, path: str):
        self._fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        self._map = mmap.mmap(self._fd, _COUNTER.size)
        self._lock = threading.Lock()  # flock does not exclude threads sharing one descriptor

    def value(self) -> int:
        """The counter, never half-written (the bytes are not updated in one step)."""
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_SH)
            try:
                return _COUNTER.unpack_from(self._map)[0]
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def bump(self) -> None:
        """Add one; bumps from several workers at once are never lost."""
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                _COUNTER.pack_into(self._map, 0, _COUNTER.unpack_from(self._map)[0] + 1)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
