"""The web framework's own OpenTelemetry export stays off: request spans would carry secret paths and
namespaces, and exception records their messages, to whatever provider the process happens to have."""

from __future__ import annotations

import inspect

import pytest
from fastapi import FastAPI

import vgtest
from vaultguard.service.app import create_app
from vaultguard.service.config import Settings
from vaultguard.service.storage.store import Store


@pytest.mark.skipif(
    "telemetry" not in inspect.signature(FastAPI.__init__).parameters,
    reason="this FastAPI release has no telemetry of its own",
)
def test_fastapi_native_telemetry_is_off(tmp_path):
    url = "sqlite:///" + str(tmp_path / "vaultguard.db")
    store = Store(url)
    store.migrate()
    vgtest.unseal(store).dispose()  # the data key a server start creates
    app = create_app(Settings(storage_url=url, dev=True))
    config = app._telemetry  # FastAPI's resolved settings (defaults: everything on)
    assert (config["tracing"], config["metrics"], config["logs"]) == (False, False, False)
    assert not app._native_telemetry.enabled()
