"""Audit devices (a file, stdout) and the broker that writes every entry to all of them.

Vault's rule: an entry counts as logged when at least one device took it; when none did, the request is
refused. Each entry is handed to a device as one `write()` of whole lines, so entries written by several
worker processes never interleave (the file is opened with O_APPEND).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

log = logging.getLogger("vaultguard.audit")

DEVICE_TYPES = ("file", "stdout")
DEFAULT_FILE_MODE = 0o600
_ERROR_REPORT_INTERVAL = 10.0  # seconds between two log lines about the same failing device


class DeviceError(Exception):
    """A device that cannot be set up; phrased for the operator."""


class Device(Protocol):
    name: str

    def write(self, lines: bytes) -> None:
        """Write whole lines or raise OSError."""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:  # pragma: no cover - os.write raises rather than returning 0 for files
            raise OSError("audit device accepted no bytes")
        view = view[written:]


@dataclass
class FileDevice:
    """Appends to `path`. The file is opened for every write (and created with `mode` when missing), so
    a rotated log (renamed away) is replaced by a new file at once, with no signal to the server, and a
    path that stops being writable fails the very next request instead of writing into a deleted inode."""

    path: str
    mode: int = DEFAULT_FILE_MODE
    fsync: bool = False
    name: str = "file"

    def write(self, lines: bytes) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, self.mode)
        try:
            _write_all(fd, lines)
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)

    def probe(self) -> None:
        """At start-up: the file can be created and appended to (and gets `mode`), or a DeviceError."""
        path = Path(self.path)
        if not path.parent.is_dir():
            raise DeviceError(f'audit "file": directory {str(path.parent)!r} does not exist')
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, self.mode)
            try:
                os.fchmod(fd, self.mode)
            finally:
                os.close(fd)
        except OSError as exc:
            raise DeviceError(f'audit "file": cannot open {self.path!r} for appending: {exc.strerror}') from None


@dataclass
class StdoutDevice:
    """Writes to the process's standard output (file descriptor 1), for container log collectors.

    On a pipe, lines up to PIPE_BUF (4 KiB on Linux) are atomic across worker processes; longer ones may
    interleave with other workers' lines, so prefer the file device when entries are large.
    """

    name: str = "stdout"

    def write(self, lines: bytes) -> None:
        _write_all(1, lines)  # the descriptor, not sys.stdout: one write() per batch, no Python buffering

    def probe(self) -> None:
        try:
            os.fstat(1)
        except OSError as exc:
            raise DeviceError(f'audit "stdout": standard output is not open: {exc.strerror}') from None


def device_from_settings(spec: dict) -> FileDevice | StdoutDevice:
    """One device from its settings entry ({"type": "file", "path": ..., "mode": ..., "fsync": ...})."""
    kind = spec.get("type")
    if kind == "file":
        return FileDevice(path=str(spec["path"]), mode=int(spec.get("mode", DEFAULT_FILE_MODE)),
                          fsync=bool(spec.get("fsync", False)))  # fmt: skip
    if kind == "stdout":
        return StdoutDevice()
    raise DeviceError(f'audit "{kind}" is not a supported device (use "file" or "stdout")')


class Broker:
    """Writes each batch of lines to every device; True when at least one device took it."""

    def __init__(self, devices: list[FileDevice | StdoutDevice]):
        self.devices = devices
        self._last_report: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def __bool__(self) -> bool:
        return bool(self.devices)

    def device(self, name: str) -> FileDevice | StdoutDevice | None:
        return next((d for d in self.devices if d.name == name), None)

    def write(self, lines: bytes) -> bool:
        ok = False
        for device in self.devices:
            try:
                device.write(lines)
                ok = True
            except OSError as exc:
                self._report(device.name, exc)
        return ok

    def _report(self, name: str, exc: OSError) -> None:
        # One line per device per interval: a full disk must not also flood the server log.
        now = time.monotonic()
        if now - self._last_report.get(name, -_ERROR_REPORT_INTERVAL) < _ERROR_REPORT_INTERVAL:
            self._suppressed[name] = self._suppressed.get(name, 0) + 1
            return
        suppressed = self._suppressed.pop(name, 0)
        self._last_report[name] = now
        more = f" ({suppressed} more failures since the last report)" if suppressed else ""
        log.error('audit device "%s" failed to write: %s%s', name, exc.strerror or exc, more)
