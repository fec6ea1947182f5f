"""Audit devices and the broker: whole lines appended, the first working device is enough, failures are named."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import stat
from concurrent.futures import ProcessPoolExecutor

import pytest

from vaultguard.service.audit.devices import Broker, DeviceError, FileDevice, StdoutDevice, device_from_settings

# Spawned, not forked: a fork of a pytest worker whose other threads hold locks can hang forever.
SPAWN = multiprocessing.get_context("spawn")


class Failing:
    name = "broken"

    def write(self, lines: bytes) -> None:
        raise OSError(28, "No space left on device")


class Memory:
    name = "memory"

    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def write(self, lines: bytes) -> None:
        self.lines.append(lines)


def test_the_file_device_appends_and_creates_the_file_with_its_mode(tmp_path):
    path = tmp_path / "audit.log"
    device = FileDevice(str(path), mode=0o640)
    device.probe()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    device.write(b'{"a":1}\n')
    device.write(b'{"b":2}\n{"c":3}\n')
    assert path.read_bytes() == b'{"a":1}\n{"b":2}\n{"c":3}\n'


def test_a_rotated_log_is_replaced_by_a_new_file_on_the_next_write(tmp_path):
    path = tmp_path / "audit.log"
    device = FileDevice(str(path))
    device.write(b"1\n")
    path.rename(tmp_path / "audit.log.1")
    device.write(b"2\n")
    assert path.read_bytes() == b"2\n" and (tmp_path / "audit.log.1").read_bytes() == b"1\n"


def test_a_path_that_stops_being_writable_fails_the_next_write(tmp_path):
    directory = tmp_path / "logs"
    directory.mkdir()
    device = FileDevice(str(directory / "audit.log"))
    device.write(b"1\n")
    (directory / "audit.log").unlink()
    directory.rmdir()
    directory.write_text("a file now")
    with pytest.raises(OSError):
        device.write(b"2\n")


def test_fsync_is_optional_and_still_writes(tmp_path):
    device = FileDevice(str(tmp_path / "audit.log"), fsync=True)
    device.write(b"x\n")
    assert (tmp_path / "audit.log").read_bytes() == b"x\n"


def test_a_missing_directory_is_refused_at_start_up(tmp_path):
    with pytest.raises(DeviceError, match="does not exist"):
        FileDevice(str(tmp_path / "missing" / "audit.log")).probe()


def test_an_unopenable_path_is_refused_at_start_up(tmp_path):
    (tmp_path / "audit.log").mkdir()
    with pytest.raises(DeviceError, match="cannot open"):
        FileDevice(str(tmp_path / "audit.log")).probe()


def _append_many(args: tuple[str, int]) -> None:
    path, worker = args
    device = FileDevice(path)
    for i in range(300):
        device.write(json.dumps({"worker": worker, "i": i, "pad": "x" * 3000}).encode() + b"\n")


def test_lines_from_several_processes_never_interleave(tmp_path):
    path = str(tmp_path / "audit.log")
    with ProcessPoolExecutor(4, mp_context=SPAWN) as pool:
        list(pool.map(_append_many, [(path, w) for w in range(4)]))
    lines = open(path, "rb").read().splitlines()
    assert len(lines) == 1200
    assert all(json.loads(line)["pad"] == "x" * 3000 for line in lines)


def test_the_stdout_device_writes_to_descriptor_1(capfd):
    StdoutDevice().write(b'{"type":"request"}\n')
    assert capfd.readouterr().out == '{"type":"request"}\n'


def test_devices_come_from_settings():
    device = device_from_settings({"type": "file", "path": "/var/log/a.log", "mode": 0o600, "fsync": True})
    assert device == FileDevice("/var/log/a.log", 0o600, True)
    assert isinstance(device_from_settings({"type": "stdout"}), StdoutDevice)
    with pytest.raises(DeviceError, match="not a supported device"):
        device_from_settings({"type": "syslog"})


def test_one_working_device_is_enough():
    memory = Memory()
    assert Broker([Failing(), memory]).write(b"x\n") is True
    assert memory.lines == [b"x\n"]


def test_when_every_device_fails_the_broker_says_so_and_names_the_device_once(caplog):
    broker = Broker([Failing()])
    with caplog.at_level(logging.ERROR, logger="vaultguard.audit"):
        assert broker.write(b"x\n") is False
        assert broker.write(b"y\n") is False
    reports = [r.getMessage() for r in caplog.records]
    assert reports == ['audit device "broken" failed to write: No space left on device']


def test_no_device_means_auditing_is_off():
    assert not Broker([]) and Broker([Memory()]).device("memory") is not None


def test_the_log_file_is_only_readable_by_the_owner_by_default(tmp_path):
    device = FileDevice(str(tmp_path / "audit.log"))
    device.probe()
    assert stat.S_IMODE(os.stat(device.path).st_mode) == 0o600
