"""The newest storage generation any part of this server has seen, shared by its worker processes.

On PostgreSQL, asking the database whether anything changed costs a round trip on every request. An admin
change made through this server must take effect on its very next request in every worker, and one made
through another replica within the bound (storage.directory), pushed by NOTIFY (storage.notifications). And
once any worker has refused because of a change, no worker of this server may allow on older data.

All three come from one number: the newest generation committed by, notified to, or read by any process of
this server. A worker's cached view older than it is stale, whatever the bound; each worker raises it
whenever it learns of a newer generation, so none serves an older view once another has seen a newer one.

The number is 8 bytes of a small file that every worker maps into memory, read and written under the file's
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
    """A new file at generation zero, private to this user; the caller removes it."""
    fd, path = tempfile.mkstemp(prefix="vaultguard-changes-")
    try:
        os.write(fd, bytes(_COUNTER.size))
    finally:
        os.close(fd)
    return path


class NodeGeneration:
    """One process's handle on the server's shared newest generation."""

    def __init__(self, path: str):
        self._fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        self._map = mmap.mmap(self._fd, _COUNTER.size)
        self._lock = threading.Lock()  # flock does not exclude threads sharing one descriptor

    def newest(self) -> int:
        """The newest generation seen, never half-written (the bytes are not updated in one step)."""
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_SH)
            try:
                return _COUNTER.unpack_from(self._map)[0]
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def advance(self, generation: int) -> None:
        """Raise the newest generation to `generation` (never lower it: workers may learn out of order)."""
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                if generation > _COUNTER.unpack_from(self._map)[0]:
                    _COUNTER.pack_into(self._map, 0, generation)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
