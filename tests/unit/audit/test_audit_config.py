"""Audit devices in the HCL config file and the `--audit-log` flag: parsed, validated, mistakes named."""

from __future__ import annotations

import pytest

from vaultguard.service.config import ConfigError, Settings, audit_device_for_flag, load_config_file

STORAGE = 'storage "sql" { url = "sqlite:///x.db" }\n'


def write(tmp_path, text: str) -> str:
    path = tmp_path / "server.hcl"
    path.write_text(STORAGE + text)
    return str(path)


def test_file_and_stdout_devices_are_read(tmp_path):
    settings = load_config_file(
        write(
            tmp_path,
            'audit "file" {\n path = "/var/log/vg/audit.log"\n mode = "0640"\n fsync = true\n}\naudit "stdout" {}\n',
        )  # fmt: skip
    )
    assert settings.audit_devices == [
        {"type": "file", "path": "/var/log/vg/audit.log", "mode": 0o640, "fsync": True},
        {"type": "stdout"},
    ]
    settings.check()
    assert Settings.from_env(settings.to_env()).audit_devices == settings.audit_devices


def test_a_file_device_defaults_to_0600_without_fsync_and_a_relative_path_is_resolved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    device = load_config_file(write(tmp_path, 'audit "file" { path = "logs/audit.log" }')).audit_devices[0]
    assert device == {"type": "file", "path": str(tmp_path / "logs" / "audit.log"), "mode": 0o600, "fsync": False}


def test_without_audit_blocks_there_is_no_device(tmp_path):
    assert load_config_file(write(tmp_path, "")).audit_devices == []


@pytest.mark.parametrize(
    "text,message",
    [
        ('audit "file" {}', 'audit "file": path is required'),
        ('audit "file" { path = "/a" \n colour = "red" }', "unknown settings: colour"),
        ('audit "file" { path = "/a" \n mode = "rw" }', 'mode "rw" must be octal'),
        ('audit "file" { path = "/a" \n mode = "01777" }', "must be octal"),
        ('audit "file" { path = "/a" \n fsync = "often" }', "fsync must be true or false"),
        ('audit "stdout" { path = "/a" }', "unknown settings: path"),
        ('audit "syslog" {}', 'audit "syslog" is not a supported device'),
        ('audit "file" { path = "/a" }\naudit "file" { path = "/b" }', 'only one audit "file" block'),
        ('audit = "file"', "expected audit"),
    ],
)
def test_audit_block_mistakes_are_named(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        load_config_file(write(tmp_path, text))
    assert message in str(err.value)


def test_the_flag_adds_a_file_device_or_stdout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert audit_device_for_flag("audit.log") == {
        "type": "file", "path": str(tmp_path / "audit.log"), "mode": 0o600, "fsync": False
    }  # fmt: skip
    assert audit_device_for_flag("-") == {"type": "stdout"}


def test_two_devices_of_one_type_are_refused():
    settings = Settings(dev=True, storage_url="sqlite:///x.db", audit_devices=[{"type": "stdout"}, {"type": "stdout"}])
    with pytest.raises(ConfigError, match='only one "stdout" device'):
        settings.check()


def test_a_device_of_an_unknown_type_is_refused():
    settings = Settings(dev=True, storage_url="sqlite:///x.db", audit_devices=[{"type": "socket"}])
    with pytest.raises(ConfigError, match="not a supported device"):
        settings.check()
