"""The PostgreSQL server dies under load and comes back: the vaultguard servers on it answer 503 while it is
away (quickly, never a 500, no process lost), serve again without being restarted once it is back, have lost
nothing they acknowledged, and their change listeners reconnect (docs/operator.md, "Storage" and "Several
replicas").

The database is a private instance the test starts itself (private_pg), so crashing it touches no other test.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
import requests
from agent_world import build, rar
from private_pg import PrivatePostgres, unavailable_reason

import vgtest
from vaultguard.service.storage.notifications import APPLICATION_NAME

READ = "sys/policy/policy-reader"
UNAVAILABLE = {"errors": ["storage is temporarily unavailable; retry"]}
HANG_BOUND = 10.0  # no request may take longer, whatever the database does
RECOVERY_BOUND = 10.0  # from the database accepting connections again to a served write
NOTIFY_BOUND = 1.0  # the slowly polling replica enforces a change this soon only if its listener is back
DOWN_FOR = 2.0


@pytest.fixture(scope="module")
def instance() -> Iterator[PrivatePostgres]:
    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get("VAULTGUARD_REQUIRE_PG") == "1":  # as CI sets it: PostgreSQL tests must run
            pytest.fail(f"no private PostgreSQL instance: {reason}, and VAULTGUARD_REQUIRE_PG=1")
        pytest.skip(f"no private PostgreSQL instance: {reason} (VAULTGUARD_REQUIRE_PG=1 fails instead)")
    pg = PrivatePostgres()
    try:
        yield pg.start()
    finally:
        pg.close()


def listeners(pg: PrivatePostgres) -> int:
    """Connections in LISTEN mode now (one per server whose change listener is connected)."""
    import psycopg

    with psycopg.connect(pg.admin_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (APPLICATION_NAME,)
        ).fetchone()
    assert row is not None
    return int(row[0])


@dataclass
class Outcome:
    kind: str  # "write" or "read"
    started: float
    took: float
    status: int | None  # None: no HTTP answer at all
    body: str
    path: str = ""
    data: dict = field(default_factory=dict)


class Load:
    """Threads sending admin KV writes (each to a new path), agent reads with a JWT, and other admin requests,
    until the `with` block ends."""

    def __init__(self, server: vgtest.Server, namespace: str, agent_token: str, writers: int = 2, readers: int = 2):
        self.server, self.namespace, self.agent_token = server, namespace, agent_token
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._write, args=(n,)) for n in range(writers)]
        self._threads += [threading.Thread(target=self._read) for _ in range(readers)]
        self._threads.append(threading.Thread(target=self._admin))

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=HANG_BOUND + 5)

    def since(self, moment: float, kind: str) -> list[Outcome]:
        with self._lock:
            return [o for o in self.outcomes if o.kind == kind and o.started >= moment]

    def _send(self, session: requests.Session, kind: str, method: str, path: str, token: str, data: dict) -> None:
        headers = {"X-Vault-Token": token, "X-Vault-Namespace": self.namespace}
        body = ({"data": data} if kind == "write" else data) or None
        started = time.monotonic()
        try:
            resp = session.request(
                method, f"{self.server.url}/v1/{path}", json=body, headers=headers, timeout=HANG_BOUND + 5
            )
            status, text = resp.status_code, resp.text
        except requests.RequestException as exc:
            status, text = None, repr(exc)
        outcome = Outcome(kind, started, time.monotonic() - started, status, text, path, data)
        with self._lock:
            self.outcomes.append(outcome)
        if status is None:
            time.sleep(0.05)

    def _write(self, writer: int) -> None:
        root = self.server.root_token
        with requests.Session() as session:
            for i in range(1_000_000):
                if self._stopping.is_set():
                    return
                value = {"writer": writer, "i": i, "nonce": uuid.uuid4().hex}
                self._send(session, "write", "POST", f"secret/data/outage/w{writer}-{i}", root, value)

    def _admin(self) -> None:
        """Admin requests of other kinds: reads, lists, an entity created, the token's own lookup."""
        root = self.server.root_token
        with requests.Session() as session:
            for i in range(1_000_000):
                if self._stopping.is_set():
                    return
                method, path, data = [
                    ("GET", "auth/token/lookup-self", {}),
                    ("GET", "sys/policies/acl/policy-reader", {}),
                    ("POST", "identity/entity", {"name": f"outage-{i}"}),
                    ("LIST", "identity/entity/id", {}),
                    ("GET", "agent-registry/registration/display-name/report-bot", {}),
                ][i % 5]
                self._send(session, "admin", method, path, root, data)

    def _read(self) -> None:
        with requests.Session() as session:
            while not self._stopping.is_set():
                self._send(session, "read", "GET", READ, self.agent_token, {})


def agent_read(server: vgtest.Server, namespace: str, token: str) -> int:
    headers = {"X-Vault-Token": token, "X-Vault-Namespace": namespace}
    return requests.get(f"{server.url}/v1/{READ}", headers=headers, timeout=HANG_BOUND).status_code


def test_a_database_crash_under_load_gives_503s_and_recovers_without_a_restart(instance, tmp_path):
    url = instance.create_database("outage")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    server = vgtest.Server(url, tmp_path / "a", workers=2).start()
    other = None
    try:
        # A second replica that polls only once a minute: it learns of a change in time only by NOTIFY.
        other = vgtest.slow_polling_replica(url, tmp_path / "b", workers=1)
        namespace = "o" + uuid.uuid4().hex[:12]
        assert server.client().post(f"sys/namespaces/{namespace}").status_code == 200
        world = build(server.client(namespace=namespace))
        token = world.mint(authorization_details=[rar(READ, "read")])
        assert [agent_read(s, namespace, token) for s in (server, other, server, other)] == [200] * 4
        workers_before = server.worker_pids()
        assert len(workers_before) == 2

        with Load(server, namespace, token) as load:
            time.sleep(1.0)
            instance.crash()
            crashed = time.monotonic()
            time.sleep(DOWN_FOR)
            restarting = time.monotonic()  # it may accept connections any time from here
            instance.start()
            back = time.monotonic()
            while not any(o.status == 200 for o in load.since(back, "write")):
                assert time.monotonic() - back < RECOVERY_BOUND, "no write served since the database came back"
                time.sleep(0.05)
            recovered = time.monotonic()
            time.sleep(0.3)

        outcomes = load.outcomes
        assert any(o.status == 200 for o in outcomes if o.started < crashed), "no load before the crash"
        unexpected = [o for o in outcomes if o.status not in (200, 503)]
        assert not unexpected, f"{len(unexpected)} answers other than 200 or 503, e.g. {unexpected[:3]}"
        for o in outcomes:
            if o.status == 503:
                assert json.loads(o.body) == UNAVAILABLE, o.body
        slowest = max(outcomes, key=lambda o: o.took)
        assert slowest.took < HANG_BOUND, f"a request took {slowest.took:.1f} s: {slowest}"
        # Every write that started and ended while the database was down was refused.
        down = [
            o for o in outcomes if o.kind == "write" and crashed + 0.1 <= o.started and o.started + o.took < restarting
        ]
        assert down and {o.status for o in down} == {503}, [(o.status, o.body) for o in down]
        assert server.proc is not None and server.proc.poll() is None, "the server process died"
        assert server.worker_pids() == workers_before, "a worker process died and was replaced"

        # Nothing acknowledged is lost: every write answered 200, before or after the crash, reads back as written.
        acknowledged = [o for o in outcomes if o.kind == "write" and o.status == 200]
        assert any(o.started > recovered - 1 for o in acknowledged)
        clients = threading.local()

        def read_back(o: Outcome) -> tuple[str, int, dict | None]:
            if not hasattr(clients, "client"):
                clients.client = server.client(namespace=namespace)
            resp = clients.client.get(o.path)
            return o.path, resp.status_code, resp.json()["data"]["data"] if resp.status_code == 200 else None

        with ThreadPoolExecutor(4) as pool:
            stored = list(pool.map(read_back, acknowledged))
        for o, (path, status, data) in zip(acknowledged, stored, strict=True):
            assert (status, data) == (200, o.data), path
        assert agent_read(server, namespace, token) == 200

        # The listeners of both servers reconnect (backoff at most 2 s), and a change through one is pushed to
        # the other again.
        deadline = time.monotonic() + 5
        while listeners(instance) < 2:
            assert time.monotonic() < deadline, "a change listener did not reconnect"
            time.sleep(0.05)
        assert agent_read(other, namespace, token) == 200
        resp = server.client(namespace=namespace).delete(f"agent-registry/registration/id/{world.registration}")
        assert resp.status_code == 204, resp.text
        revoked = time.monotonic()
        while agent_read(other, namespace, token) != 403:
            assert time.monotonic() - revoked < NOTIFY_BOUND, "the other replica was not notified after recovery"
            time.sleep(0.01)
    finally:
        if other is not None:
            other.stop()
        server.stop()
