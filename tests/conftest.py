"""Shared fixtures: storage backends (SQLite file, real PostgreSQL) and real server processes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import vgtest

# Production settings need a key-encryption key; in-process tests of them and every server process they start
# use the test run's key (tests of a missing key remove it).
os.environ.setdefault(vgtest.ENCRYPTION_KEY_ENV, vgtest.TEST_ENCRYPTION_KEY)


def _require_pg() -> bool:
    return os.environ.get("VAULTGUARD_REQUIRE_PG") == "1"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (dropped afterwards)."""
    if not vgtest.pg_available():
        if _require_pg():
            pytest.fail("PostgreSQL at 127.0.0.1:5432 is not reachable and VAULTGUARD_REQUIRE_PG=1")
        pytest.skip(
            "PostgreSQL at 127.0.0.1:5432 is not reachable (set VAULTGUARD_REQUIRE_PG=1 to fail instead)"
        )
    name, url = vgtest.create_pg_database()
    try:
        yield url
    finally:
        vgtest.drop_pg_database(name)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return "sqlite:///" + str(tmp_path_factory.mktemp("sqlite") / "vaultguard.db")
    return request.getfixturevalue("pg_database")


@pytest.fixture(scope="session")
def server(backend_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[vgtest.Server]:
    """One real server process per backend, shared by the API tests (each test works in its own namespace)."""
    srv = vgtest.Server(backend_url, tmp_path_factory.mktemp("server"), workers=2).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def root(server: vgtest.Server) -> vgtest.Client:
    """Root-token client in the root namespace."""
    return server.client()


@pytest.fixture
def api(server: vgtest.Server) -> vgtest.Client:
    """Root-token client bound to a fresh namespace, so every test starts from empty."""
    name = "t" + uuid.uuid4().hex[:12]
    resp = server.client().post(f"sys/namespaces/{name}")
    assert resp.status_code == 200, resp.text
    return server.client(namespace=name)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
