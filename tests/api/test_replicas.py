"""Two servers (replicas) on one PostgreSQL database.

DECISIONS.md#d54: on one node an admin change is enforced on the very next request, by every worker; across
replicas on PostgreSQL within a configurable bound (`replica_propagation_bound`, default 1 s), revocations
included.
"""

from __future__ import annotations

import time
import uuid

import pytest
import requests
from agent_world import build, rar
from api_objects import create_entity, race

import vgtest

BOUND = 1.0  # the default
SLACK = 0.5  # scheduling on a busy 2-core machine
READ = "sys/policy/policy-reader"


@pytest.fixture(scope="module")
def replicas(pg_database, tmp_path_factory):
    first = vgtest.Server(pg_database, tmp_path_factory.mktemp("replica-1"), workers=2).start()
    try:
        second = vgtest.Server(pg_database, tmp_path_factory.mktemp("replica-2"), workers=2).start()
        try:
            yield first, second
        finally:
            second.stop()
    finally:
        first.stop()


def agent_read(server: vgtest.Server, namespace: str, token: str) -> int:
    """One request on a new connection, so any worker may take it."""
    headers = {"X-Vault-Token": token, "X-Vault-Namespace": namespace}
    return requests.get(f"{server.url}/v1/{READ}", headers=headers, timeout=30).status_code


def test_a_revocation_through_one_replica_is_enforced_by_the_other_within_the_bound(replicas):
    first, second = replicas
    namespace = "r" + uuid.uuid4().hex[:12]
    assert first.client().post(f"sys/namespaces/{namespace}").status_code == 200
    world = build(first.client(namespace=namespace))
    token = world.mint(authorization_details=[rar(READ, "read")])
    for server in (first, second):
        assert [agent_read(server, namespace, token) for _ in range(4)] == [200] * 4

    resp = second.client(namespace=namespace).delete(f"agent-registry/registration/id/{world.registration}")
    assert resp.status_code == 204, resp.text
    revoked_at = time.monotonic()
    assert [agent_read(second, namespace, token) for _ in range(4)] == [403] * 4, "the replica that made it: at once"
    while agent_read(first, namespace, token) != 403:
        assert time.monotonic() - revoked_at < BOUND + SLACK, "the other replica still allows the agent"
        time.sleep(0.02)
    # Each worker asks again at most BOUND after its last look, which was before the revocation.
    time.sleep(max(0.0, revoked_at + BOUND - time.monotonic()))
    assert [agent_read(first, namespace, token) for _ in range(6)] == [403] * 6, "every worker of the other replica"


# ---- racing creates of one name through both replicas ----------------------------------------------------------

RACERS = 12


def test_racing_creates_of_one_name_through_two_replicas_have_exactly_one_winner(replicas):
    """Each replica's workers answer from their own caches, which know nothing of the other replica's write in
    flight: the database's constraints decide, and every loser gets a 400 naming the rule, never a 500."""
    first, second = replicas
    namespace = "r" + uuid.uuid4().hex[:12]
    assert first.client().post(f"sys/namespaces/{namespace}").status_code == 200
    clients = [server.client(namespace=namespace) for server in (first, second)]
    entities = [create_entity(clients[0]) for _ in range(RACERS)]
    races = {
        "entity name": (
            [(clients[i % 2], "POST", "identity/entity", {"name": "contested"}) for i in range(RACERS)],
            lambda message: message.startswith("name: an entity") and "already exists" in message,
        ),
        "registration display name": (
            [
                (clients[i % 2], "POST", "agent-registry/register", {"display_name": "contested", "entity_id": e})
                for i, e in enumerate(entities)
            ],
            lambda message: message.startswith('display_name: "contested" is already used by agent registration'),
        ),
        "first KV version (cas 0)": (
            [
                (clients[i % 2], "POST", "secret/data/contested", {"data": {"i": i}, "options": {"cas": 0}})
                for i in range(RACERS)
            ],
            lambda message: message == "check-and-set parameter did not match the current version",
        ),
    }
    for name, (sends, names_the_rule) in races.items():
        responses = race(sends)
        codes = sorted(r.status_code for r in responses)
        assert codes == [200] + [400] * (RACERS - 1), (name, [r.text for r in responses])
        for loser in (r for r in responses if r.status_code == 400):
            [message] = loser.json()["errors"]
            assert names_the_rule(message), (name, message)


# ---- push: NOTIFY on each write, one listener per server ------------------------------------------------------


@pytest.fixture(scope="module")
def pushed(pg_database, tmp_path_factory, replicas):
    """A four-worker replica that would poll once a minute, next to the module's two replicas."""
    server = vgtest.slow_polling_replica(pg_database, tmp_path_factory.mktemp("replica-push"), workers=4)
    try:
        yield server
    finally:
        server.stop()


def test_a_revocation_reaches_a_slowly_polling_replica_by_notification_at_once(replicas, pushed):
    first, _ = replicas
    namespace = "r" + uuid.uuid4().hex[:12]
    assert first.client().post(f"sys/namespaces/{namespace}").status_code == 200
    world = build(first.client(namespace=namespace))
    token = world.mint(authorization_details=[rar(READ, "read")])
    assert [agent_read(pushed, namespace, token) for _ in range(4)] == [200] * 4

    resp = first.client(namespace=namespace).delete(f"agent-registry/registration/id/{world.registration}")
    assert resp.status_code == 204, resp.text
    revoked_at = time.monotonic()
    while agent_read(pushed, namespace, token) != 403:
        assert time.monotonic() - revoked_at < SLACK + 0.5, "not pushed: the replica still allows the agent"
        time.sleep(0.005)


def test_once_a_replica_refuses_none_of_its_workers_allows_again(replicas, pushed):
    """New connections land on any of the four workers; the first refusal is final for all of them."""
    first, _ = replicas
    namespace = "r" + uuid.uuid4().hex[:12]
    assert first.client().post(f"sys/namespaces/{namespace}").status_code == 200
    world = build(first.client(namespace=namespace))
    token = world.mint(authorization_details=[rar(READ, "read")])
    assert [agent_read(pushed, namespace, token) for _ in range(8)] == [200] * 8

    resp = first.client(namespace=namespace).delete(f"agent-registry/registration/id/{world.registration}")
    assert resp.status_code == 204, resp.text
    seen = [agent_read(pushed, namespace, token) for _ in range(150)]

    assert 403 in seen, "never enforced"
    first_refusal = seen.index(403)
    assert set(seen[first_refusal:]) == {403}, f"allowed again after refusing: {seen}"
