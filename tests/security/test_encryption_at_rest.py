"""Encryption at rest (THREATS.md#t34): secret values and the audit HMAC key are sealed with AES-256-GCM under a
data key wrapped by the operator's key-encryption key, on both storage engines.

- the raw SQLite file (with its WAL) and a `pg_dump` hold none of the values written through the API;
- a production server refuses to start without a key, or with a key that does not open the database;
- rotation: a newer key at the top of the keyring rewraps the data key at start, while a server started
  before keeps serving; afterwards the old key can go;
- a ciphertext moved to another row does not open (its namespace, path and version are bound to it);
- a database written in clear by an earlier version is sealed at the first start and reads as before.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

import vgtest
from vaultguard.service.storage import tables as t
from vaultguard.service.storage.engine import MIGRATIONS, create_engine
from vaultguard.service.storage.sealing import SEALED_PREFIX, key_id

TOKEN = "hvs.operator-chosen-root-token"


def _new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request, tmp_path) -> Iterator[str]:
    """A fresh database of each engine for one test."""
    if request.param == "sqlite":
        yield "sqlite:///" + str(tmp_path / "sealed.db")
        return
    if not vgtest.pg_available():
        pytest.skip("PostgreSQL at 127.0.0.1:5432 is not reachable")
    name, url = vgtest.create_pg_database()
    try:
        yield url
    finally:
        vgtest.drop_pg_database(name)


def _production(
    tmp_path: Path, storage_url: str, keys: list[str] | None, name: str = "server", extra: str = ""
) -> vgtest.Server:
    """A production server on `storage_url` whose keyring file holds `keys` (newest first); None: no key."""
    (tmp_path / "root-token").write_text(TOKEN + "\n")
    key_line = ""
    if keys is not None:
        key_file = tmp_path / f"{name}.kek"
        key_file.write_text("".join(k + "\n" for k in keys))
        key_file.chmod(0o600)
        key_line = f'encryption_key_file = "{key_file}"'
    config = tmp_path / f"{name}.hcl"
    config.write_text(
        f"""
        listener "tcp" {{ address = "127.0.0.1:1" }}
        storage "sql" {{ url = "{storage_url}" }}
        initial_root_token_file = "{tmp_path / "root-token"}"
        {key_line}
        {extra}
        """
    )
    return vgtest.Server("", tmp_path, config_file=config, root_token=TOKEN, env={vgtest.ENCRYPTION_KEY_ENV: None})


def _raw_bytes(storage_url: str) -> bytes:
    """Everything the database would put in a backup: the SQLite files, or a plain `pg_dump`."""
    if storage_url.startswith("sqlite"):
        db = Path(storage_url.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal")) if p.exists())
    url = storage_url.replace("postgresql+psycopg://", "postgresql://")
    return subprocess.run(["pg_dump", "--no-owner", url], capture_output=True, check=True, timeout=60).stdout


def _db_value(storage_url: str, statement: sa.Select):  # noqa: ANN202
    engine = create_engine(storage_url)
    try:
        with engine.connect() as conn:
            return conn.execute(statement).scalar()
    finally:
        engine.dispose()


def _refusal(srv: vgtest.Server) -> str:
    with pytest.raises(RuntimeError) as failed:
        srv.start()
    return str(failed.value)


def test_no_secret_value_reaches_the_database_file_or_a_dump(tmp_path, storage):
    srv = _production(tmp_path, storage, [_new_key()]).start()
    values = [f"needle-{uuid.uuid4().hex}" for _ in range(3)]
    try:
        api = srv.client()
        assert api.post("sys/namespaces/team").status_code == 200
        team = srv.client(namespace="team")
        assert api.post("secret/data/db", json={"data": {"password": values[0]}}).status_code == 200
        assert team.post("secret/data/app/db", json={"data": {"password": values[1], "n": 1}}).status_code == 200
        patch = team.request(
            "PATCH", "secret/data/app/db", json={"data": {"token": values[2]}},
            headers={"Content-Type": "application/merge-patch+json"},
        )  # fmt: skip
        assert patch.status_code == 200, patch.text
        read = team.get("secret/data/app/db").json()["data"]["data"]
        assert read == {"password": values[1], "n": 1, "token": values[2]}
        assert api.get("secret/data/db").json()["data"]["data"] == {"password": values[0]}
        raw = _raw_bytes(storage)
        assert b"app/db" in raw  # the search does see the rows (paths are not secret)
        for value in values:
            assert value.encode() not in raw
        hmac_key = _db_value(storage, sa.select(t.audit_hmac_key.c.key))
        assert hmac_key.startswith(SEALED_PREFIX) and hmac_key.encode() in raw
    finally:
        srv.stop()


def test_production_refuses_to_start_without_a_key(tmp_path, storage):
    message = _refusal(_production(tmp_path, storage, None))
    assert "encryption_key_file" in message and "VAULTGUARD_ENCRYPTION_KEY" in message
    assert "Traceback" not in message


def test_a_key_that_does_not_open_the_database_is_refused(tmp_path, storage):
    first = _new_key()
    srv = _production(tmp_path, storage, [first]).start()
    assert srv.client().post("secret/data/a", json={"data": {"v": "x"}}).status_code == 200
    srv.stop()
    message = _refusal(_production(tmp_path, storage, [_new_key()]))
    assert f"wrapped by key id {key_id(base64.b64decode(first))}" in message
    assert "Traceback" not in message


def test_rotating_the_key_rewraps_the_data_key_while_a_server_keeps_serving(tmp_path, storage):
    old, new = _new_key(), _new_key()
    running = _production(tmp_path, storage, [old], name="running").start()
    try:
        assert running.client().post("secret/data/a", json={"data": {"v": "before"}}).status_code == 200
        # A second server (a replica, or the same node restarted) with the new key on top rewraps the data key.
        rotated = _production(tmp_path, storage, [new, old], name="rotated").start()
        try:
            wrapped_by = _db_value(storage, sa.select(t.data_key.c.wrapped_by))
            assert wrapped_by == key_id(base64.b64decode(new))
            assert rotated.client().get("secret/data/a").json()["data"]["data"] == {"v": "before"}
            assert rotated.client().post("secret/data/a", json={"data": {"v": "during"}}).status_code == 200
            # The server started with the old key only still reads and writes: it holds the data key.
            assert running.client().get("secret/data/a").json()["data"]["data"] == {"v": "during"}
            assert running.client().post("secret/data/b", json={"data": {"v": "old-key"}}).status_code == 200
        finally:
            rotated.stop()
    finally:
        running.stop()
    # The old key can go now; a server with only the old key is refused.
    after = _production(tmp_path, storage, [new], name="after").start()
    try:
        assert after.client().get("secret/data/b").json()["data"]["data"] == {"v": "old-key"}
    finally:
        after.stop()
    assert "wrapped by key id" in _refusal(_production(tmp_path, storage, [old], name="stale"))


def _rotate(config: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != vgtest.ENCRYPTION_KEY_ENV}
    return subprocess.run(
        [vgtest.VAULTGUARD, "rotate-encryption-key", "--config", str(config)],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip


def test_the_rotate_command_rewraps_the_data_key_while_the_server_keeps_serving(tmp_path, storage):
    old, new = _new_key(), _new_key()
    running = _production(tmp_path, storage, [old], name="running").start()
    try:
        api = running.client()
        assert api.post("secret/data/a", json={"data": {"v": "before"}}).status_code == 200
        _production(tmp_path, storage, [new, old], name="rotating")  # writes rotating.hcl and its keyring
        rotated = _rotate(tmp_path / "rotating.hcl")
        new_id = key_id(base64.b64decode(new))
        assert rotated.returncode == 0, rotated.stderr
        assert f"now wrapped by key id {new_id} (was {key_id(base64.b64decode(old))})" in rotated.stdout
        assert _db_value(storage, sa.select(t.data_key.c.wrapped_by)) == new_id
        # The running server, started with the old key only, never stopped serving: it holds the data key.
        assert api.get("secret/data/a").json()["data"]["data"] == {"v": "before"}
        assert api.post("secret/data/a", json={"data": {"v": "after"}}).status_code == 200
        again = _rotate(tmp_path / "rotating.hcl")
        assert again.returncode == 0 and "nothing to do" in again.stdout
    finally:
        running.stop()
    only_new = _production(tmp_path, storage, [new], name="only-new").start()
    try:
        assert only_new.client().get("secret/data/a").json()["data"]["data"] == {"v": "after"}
    finally:
        only_new.stop()
    _production(tmp_path, storage, [_new_key()], name="stranger")
    refused = _rotate(tmp_path / "stranger.hcl")
    assert refused.returncode == 1 and f"wrapped by key id {new_id}" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_ciphertext_moved_to_another_row_does_not_open(tmp_path, storage):
    srv = _production(tmp_path, storage, [_new_key()])
    srv.audit_log = tmp_path / "audit.log"
    srv.start()
    try:
        api = srv.client()
        api.post("secret/data/mine", json={"data": {"v": "mine"}})
        api.post("secret/data/theirs", json={"data": {"v": "theirs"}})
        api.post("secret/data/theirs", json={"data": {"v": "theirs-2"}})
        engine = create_engine(storage)
        v = t.kv_versions.c
        try:
            with engine.begin() as conn:
                theirs = conn.execute(sa.select(v.data).where(v.path == "theirs", v.version == 2)).scalar()
                conn.execute(t.kv_versions.update().where(v.path == "mine").values(data=theirs))
                # the same path, another version
                conn.execute(t.kv_versions.update().where(v.path == "theirs", v.version == 1).values(data=theirs))
        finally:
            engine.dispose()
        patch = {"Content-Type": "application/merge-patch+json"}
        attempts = [
            api.get("secret/data/mine"),
            api.get("secret/data/theirs?version=1"),
            api.get("secret/subkeys/mine"),
            api.request("PATCH", "secret/data/mine", json={"data": {"w": 1}}, headers=patch),
        ]
        for resp in attempts:
            assert resp.status_code == 500 and "theirs" not in resp.text
            assert resp.json() == {"errors": ["a stored secret does not belong to its row or was altered"]}
        assert api.get("secret/data/theirs").json()["data"]["data"] == {"v": "theirs-2"}
        audited = [json.loads(line) for line in srv.audit_log.read_text().splitlines()]
        refusals = [e for e in audited if e["type"] == "response" and e["response"]["status_code"] == 500]
        assert [e["request"]["path"] for e in refusals] == [
            "secret/data/mine", "secret/data/theirs", "secret/subkeys/mine", "secret/data/mine"
        ]  # fmt: skip
        assert all(e["error"] == "a stored secret does not belong to its row or was altered" for e in refusals)
    finally:
        srv.stop()
    assert "Traceback" not in srv.log.read_text()


def test_an_audit_key_that_does_not_open_refuses_the_start_with_the_fix(tmp_path, storage):
    srv = _production(tmp_path, storage, [_new_key()])
    srv.start().stop()
    engine = create_engine(storage)
    try:
        with engine.begin() as conn:
            key = conn.execute(sa.select(t.audit_hmac_key.c.key)).scalar()
            altered = key[:-6] + ("AAAA==" if not key.endswith("AAAA==") else "BBBB==")
            conn.execute(t.audit_hmac_key.update().values(key=altered))
    finally:
        engine.dispose()
    message = _refusal(srv)
    assert "the audit HMAC key (table audit_hmac_key) does not open" in message
    assert "delete its row" in message and "Traceback" not in message


def test_a_database_written_in_clear_by_an_earlier_version_is_sealed_at_start(tmp_path, storage):
    engine = create_engine(storage)
    clear_value = f"clear-{uuid.uuid4().hex}"
    hmac_hex = secrets.token_bytes(32).hex()
    try:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as conn:  # the schema of the release before encryption at rest, and its rows
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0003")
            conn.execute(t.namespaces.insert().values(id="root", path="", custom_metadata={}))
            conn.execute(t.audit_hmac_key.insert().values(id=1, key=hmac_hex, created_time="2025-01-01T00:00:00Z"))
            conn.execute(
                t.kv_keys.insert().values(
                    namespace_id="root", path="old", current_version=1, oldest_version=0, max_versions=0,
                    cas_required=False, delete_version_after=0, custom_metadata=None, created_time=1, updated_time=1,
                )
            )  # fmt: skip
            conn.execute(
                t.kv_versions.insert().values(
                    namespace_id="root", path="old", version=1, created_time=1, deletion_time=None, destroyed=False,
                    data=f'{{"password": "{clear_value}"}}',
                )
            )  # fmt: skip
    finally:
        engine.dispose()
    assert clear_value.encode() in _raw_bytes(storage)
    if storage.startswith("sqlite"):  # as the operator does when production names the file
        Path(storage.removeprefix("sqlite:///")).chmod(0o600)
    audit = f'audit "file" {{ path = "{tmp_path / "audit.log"}" }}'
    srv = _production(tmp_path, storage, [_new_key()], extra=audit).start()
    try:
        assert srv.client().get("secret/data/old").json()["data"]["data"] == {"password": clear_value}
        raw = _raw_bytes(storage)
        assert clear_value.encode() not in raw and hmac_hex.encode() not in raw
        # the audit HMAC key is the same key, sealed: a token hashes as before the upgrade
        import hashlib
        import hmac

        expected = "hmac-sha256:" + hmac.new(bytes.fromhex(hmac_hex), b"x", hashlib.sha256).hexdigest()
        resp = srv.client().post("sys/audit-hash/file", json={"input": "x"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["data"]["hash"] == expected
    finally:
        srv.stop()
