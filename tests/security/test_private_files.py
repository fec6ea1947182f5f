"""Private files (THREATS.md#t33): the server's data directory is 0700 and its database (with the WAL and SHM
sidecars), keys and audit files are 0600 whatever the umask it starts under; a production server refuses to
start when an existing data file is readable by other users, and names the file and the fix."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

import vgtest


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _start_under_umask(srv: vgtest.Server, umask: int) -> vgtest.Server:
    """Start `srv` with `umask` in force (the server process inherits it)."""
    previous = os.umask(umask)
    try:
        return srv.start()
    finally:
        os.umask(previous)


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_a_dev_server_keeps_its_files_private_whatever_the_umask(tmp_path, umask):
    data = tmp_path / "data"  # created by the server (VAULTGUARD_DATA_DIR)
    db = data / "vaultguard.db"
    audit = tmp_path / "audit.log"
    # Without a key in the environment, the dev server generates its key-encryption key in the data directory.
    srv = vgtest.Server(f"sqlite:///{db}", data, audit_log=audit, env={vgtest.ENCRYPTION_KEY_ENV: None})
    data.mkdir(mode=0o777)  # the server's log lives here too; the server must tighten the directory
    os.chmod(data, 0o777)
    _start_under_umask(srv, umask)
    try:
        api = srv.client()
        assert api.post("secret/data/umask-check", json={"data": {"v": "x"}}).status_code == 200
        files = [db, Path(f"{db}-wal"), Path(f"{db}-shm"), audit, data / "encryption.key"]
        for path in files:
            assert path.exists(), path
            assert _mode(path) == 0o600, f"{path}: {oct(_mode(path))}"
        assert _mode(data) == 0o700
    finally:
        srv.stop()


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_a_production_server_creates_private_files_whatever_the_umask(tmp_path, umask):
    db = tmp_path / "prod.db"
    srv = vgtest.Server("", tmp_path, config_file=_production_config(tmp_path, db))
    _start_under_umask(srv, umask)
    try:
        client = srv.client(token="hvs.operator-chosen-root-token")
        assert client.post("secret/data/umask-check", json={"data": {"v": "x"}}).status_code == 200
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            assert _mode(path) == 0o600, f"{path}: {oct(_mode(path))}"
    finally:
        srv.stop()


@pytest.mark.parametrize("suffix", ["", "-wal"])
@pytest.mark.parametrize("mode", [0o640, 0o604])
def test_a_production_server_refuses_a_data_file_others_can_read(tmp_path, suffix, mode):
    db = tmp_path / "prod.db"
    config = _production_config(tmp_path, db)
    srv = vgtest.Server("", tmp_path, config_file=config)
    srv.start()
    srv.stop()
    exposed = Path(f"{db}{suffix}")
    exposed.touch()
    os.chmod(exposed, mode)
    result = subprocess.run(
        [vgtest.VAULTGUARD, "server", "--config", str(config), "--listen", f"127.0.0.1:{vgtest.free_port()}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert str(exposed) in result.stderr and f"chmod 600 {exposed}" in result.stderr
    assert "Traceback" not in result.stderr
    assert _mode(exposed) == mode  # refused, not silently changed


def _production_config(tmp_path: Path, db: Path) -> Path:
    token_file = tmp_path / "root-token"
    token_file.write_text("hvs.operator-chosen-root-token\n")
    config = tmp_path / "server.hcl"
    config.write_text(
        f"""
        listener "tcp" {{ address = "127.0.0.1:1" }}
        storage "sqlite" {{ path = "{db}" }}
        initial_root_token_file = "{token_file}"
        """
    )
    return config
