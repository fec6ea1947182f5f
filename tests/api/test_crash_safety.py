"""A server SIGKILLed in the middle of concurrent admin writes loses nothing it acknowledged and leaves nothing
half-written, on both engines (docs/operator.md, "Storage": every admin write is one transaction).

Several client threads write distinct objects (policies, entities, registrations, KV versions) as fast as the
server (2 workers) answers; the server is killed while they are in flight and started again on the same storage.
Every write answered 2xx must read back exactly as written; the rows in the database must satisfy the schema's
invariants (a registration's entity exists, a KV key's current version exists and has its data).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import requests
import sqlalchemy as sa
from api_objects import namespace_id, unique

import vgtest
from vaultguard.service.storage.engine import create_engine

WRITERS = 4
KILL_AFTER_ACKS = 60  # enough acknowledged writes of every kind before the kill
KILL_AT_THE_LATEST = 8.0  # seconds of writing, on a slow machine


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def storage_url(request, tmp_path_factory) -> str:
    if request.param == "sqlite":
        return "sqlite:///" + str(tmp_path_factory.mktemp("crash") / "crash.db")
    return request.getfixturevalue("pg_database")


@dataclass
class Acknowledged:
    """What the server said it stored (2xx), to compare with what it has after the crash."""

    policies: dict[str, str] = field(default_factory=dict)  # name -> text
    entities: dict[str, dict] = field(default_factory=dict)  # id -> name, policies, metadata
    registrations: dict[str, dict] = field(default_factory=dict)  # id -> display_name, entity_id
    secrets: dict[tuple[str, int], dict] = field(default_factory=dict)  # (path, version) -> data
    interrupted: int = 0  # writes cut off by the kill (no answer)
    refused: list[str] = field(default_factory=list)  # anything else that stopped a writer: none expected
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> int:
        return len(self.policies) + len(self.entities) + len(self.registrations) + len(self.secrets)


class Cut(Exception):
    """The server stopped answering (killed)."""


def writer(client: vgtest.Client, number: int, acked: Acknowledged, stop: threading.Event) -> None:
    def send(path: str, body: dict) -> requests.Response:
        try:
            resp = client.post(path, json=body)
        except requests.RequestException as exc:  # refused, reset, or cut off mid-answer
            raise Cut from exc
        if resp.status_code not in (200, 204):
            raise AssertionError(f"{path}: {resp.status_code} {resp.text}")
        return resp

    try:
        for i in range(1_000_000):
            if stop.is_set():
                return
            tag = f"w{number}-{i}"
            text = f'path "secret/data/{tag}/*" {{ capabilities = ["read"] }}'
            send(f"sys/policies/acl/{tag}", {"policy": text})
            with acked.lock:
                acked.policies[tag] = text

            entity = {"name": f"e-{tag}", "policies": [tag], "metadata": {"writer": str(number), "i": str(i)}}
            entity_id = send("identity/entity", entity).json()["data"]["id"]
            with acked.lock:
                acked.entities[entity_id] = entity

            registration = {"display_name": f"agent-{tag}", "entity_id": entity_id, "ceiling_policies": [tag]}
            registration_id = send("agent-registry/register", registration).json()["data"]["id"]
            with acked.lock:
                acked.registrations[registration_id] = {"display_name": f"agent-{tag}", "entity_id": entity_id}

            for version in (1, 2):
                data = {"value": uuid.uuid4().hex, "version": str(version)}
                written = send(f"secret/data/{tag}/app", {"data": data, "options": {"cas": version - 1}})
                assert written.json()["data"]["version"] == version
                with acked.lock:
                    acked.secrets[(f"{tag}/app", version)] = data
    except Cut:
        with acked.lock:
            acked.interrupted += 1
    except Exception as exc:  # noqa: BLE001 - reported by the fixture, not lost with the thread
        with acked.lock:
            acked.refused.append(repr(exc))


@pytest.fixture(scope="module")
def killed(storage_url, tmp_path_factory) -> Iterator[tuple[vgtest.Server, str, Acknowledged]]:
    """A 2-worker server killed mid-stream and started again; its namespace and what it acknowledged."""
    server = vgtest.Server(storage_url, tmp_path_factory.mktemp("killed"), workers=2).start()
    try:
        namespace = unique("crash")
        assert server.client().post(f"sys/namespaces/{namespace}").status_code == 200
        acked, stop = Acknowledged(), threading.Event()
        threads = [
            threading.Thread(target=writer, args=(server.client(namespace=namespace), n, acked, stop))
            for n in range(WRITERS)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + KILL_AT_THE_LATEST
        while acked.count() < KILL_AFTER_ACKS and time.monotonic() < deadline:
            time.sleep(0.02)
        server.kill()
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        assert not acked.refused, acked.refused
        assert acked.interrupted >= 1, "the kill cut no write short"
        server.workers = 1  # one is enough to read back (and starts faster)
        server.start()
        yield server, namespace, acked
    finally:
        server.stop()


def test_every_acknowledged_write_survives_a_sigkill_mid_stream(killed):
    server, namespace, acked = killed
    api = server.client(namespace=namespace)
    assert acked.count() >= KILL_AFTER_ACKS / 2, "too few writes before the kill to tell anything"
    for name, text in acked.policies.items():
        resp = api.get(f"sys/policies/acl/{name}")
        assert resp.status_code == 200 and resp.json()["data"]["policy"] == text, (name, resp.text)
    for entity_id, written in acked.entities.items():
        resp = api.get(f"identity/entity/id/{entity_id}")
        assert resp.status_code == 200, resp.text
        data = resp.json()["data"]
        assert (data["name"], data["policies"], data["metadata"]) == tuple(written.values()), data
    for registration_id, written in acked.registrations.items():
        resp = api.get(f"agent-registry/registration/id/{registration_id}")
        assert resp.status_code == 200, resp.text
        data = resp.json()["data"]
        assert {k: data[k] for k in written} == written, data
        assert data["ceiling_policies"][0] == data["display_name"].removeprefix("agent-"), data
    for (path, version), written in acked.secrets.items():
        resp = api.get(f"secret/data/{path}?version={version}")
        assert resp.status_code == 200 and resp.json()["data"]["data"] == written, (path, version, resp.text)


def test_nothing_is_half_written_after_a_sigkill_mid_stream(killed):
    server, namespace, _ = killed
    api = server.client(namespace=namespace)
    # Through the API: every registration's entity resolves; every key's current version has its data.
    registrations = api.list("agent-registry/registration/id").json()["data"]["keys"]
    for registration_id in registrations:
        entity_id = api.get(f"agent-registry/registration/id/{registration_id}").json()["data"]["entity_id"]
        assert api.get(f"identity/entity/id/{entity_id}").status_code == 200, registration_id
    for folder in api.list("secret/metadata/").json()["data"]["keys"]:
        meta = api.get(f"secret/metadata/{folder}app").json()["data"]
        read = api.get(f"secret/data/{folder}app")
        assert read.status_code == 200, read.text
        assert read.json()["data"]["metadata"]["version"] == meta["current_version"]
        assert set(read.json()["data"]["data"]) == {"value", "version"}

    # In the database: the same invariants on the rows themselves.
    ns = namespace_id(server.client(), namespace)
    engine = create_engine(server.storage_url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT count(*) FROM registrations WHERE namespace_id = :ns"), {"ns": ns})
            assert stored.scalar_one() == len(registrations)
            for broken, query in BROKEN_ROWS.items():
                assert conn.execute(sa.text(query), {"ns": ns}).scalar_one() == 0, broken
            if engine.dialect.name == "sqlite":
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
    finally:
        engine.dispose()


# Rows of the namespace `:ns` that a half-done write would leave; each query must count none.
BROKEN_ROWS = {
    "registrations without their entity": """
        SELECT count(*) FROM registrations r LEFT JOIN entities e ON e.id = r.entity_id
        WHERE r.namespace_id = :ns AND e.id IS NULL""",
    "KV keys without their current version": """
        SELECT count(*) FROM kv_keys k LEFT JOIN kv_versions v
          ON v.namespace_id = k.namespace_id AND v.path = k.path AND v.version = k.current_version
        WHERE k.namespace_id = :ns AND v.path IS NULL""",
    "KV versions without data (and not destroyed)": """
        SELECT count(*) FROM kv_versions WHERE namespace_id = :ns AND data IS NULL AND NOT destroyed""",
    "KV versions without their key": """
        SELECT count(*) FROM kv_versions v LEFT JOIN kv_keys k ON k.namespace_id = v.namespace_id AND k.path = v.path
        WHERE v.namespace_id = :ns AND k.path IS NULL""",
    "KV keys whose current version is not their newest": """
        SELECT count(*) FROM kv_keys k WHERE k.namespace_id = :ns AND k.current_version <> (
          SELECT max(v.version) FROM kv_versions v WHERE v.namespace_id = k.namespace_id AND v.path = k.path)""",
}
