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
