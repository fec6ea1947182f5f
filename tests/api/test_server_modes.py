"""Production mode: HCL config, TLS listener, operator-provided root token, nothing printed."""

from __future__ import annotations

import signal
import subprocess

import requests
import urllib3

import vgtest
from vgtest import self_signed


def test_a_production_server_serves_tls_and_accepts_only_the_operators_root_token(tmp_path):
    cert, key = self_signed(tmp_path)
    token_file = tmp_path / "root-token"
    token_file.write_text("hvs.operator-chosen-root-token\n")
    config = tmp_path / "server.hcl"
    config.write_text(
        f"""
        listener "tcp" {{
          address       = "127.0.0.1:1"
          tls_cert_file = "{cert}"
          tls_key_file  = "{key}"
        }}
        storage "sqlite" {{ path = "{tmp_path / "prod.db"}" }}
        initial_root_token_file = "{token_file}"
        """
    )
    urllib3.disable_warnings()
    srv = vgtest.Server("", tmp_path, config_file=config, scheme="https").start()
    # Like most HTTP clients, this session keeps its connection open and idle without reading from it, so it
    # never answers the server's TLS close_notify: the stop below must not wait on it.
    client = requests.Session()
    try:
        ok = client.get(
            srv.url + "/v1/auth/token/lookup-self",
            headers={"X-Vault-Token": "hvs.operator-chosen-root-token"},
            verify=str(cert),
            timeout=10,
        )
        assert ok.status_code == 200 and ok.json()["data"]["policies"] == ["root"]
        bad = client.get(
            srv.url + "/v1/auth/token/lookup-self", headers={"X-Vault-Token": "root"}, verify=str(cert)
        )
        assert bad.status_code == 403
    finally:
        srv.stop()  # SIGTERM, then SIGKILL after 15 s
        client.close()
    # uvicorn ends a graceful stop by re-raising the signal it caught; -SIGKILL would mean it never finished.
    assert srv.proc.returncode == -signal.SIGTERM, f"no graceful stop on SIGTERM (exit {srv.proc.returncode})"
    output = srv.log.read_text()
    assert "Root Token" not in output and "operator-chosen" not in output


def test_a_production_config_without_tls_on_a_public_address_is_refused(tmp_path):
    config = tmp_path / "server.hcl"
    config.write_text(
        f'listener "tcp" {{ address = "0.0.0.0:8200" }}\nstorage "sqlite" {{ path = "{tmp_path}/x.db" }}'
    )
    result = subprocess.run(
        [vgtest.VAULTGUARD, "server", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "tls_cert_file" in result.stderr and "Traceback" not in result.stderr


def test_an_unreachable_storage_fails_with_one_line(tmp_path):
    result = subprocess.run(
        [
            vgtest.VAULTGUARD,
            "server",
            "--dev",
            "--storage",
            "postgresql://127.0.0.1:1/nothing",
            "--listen",
            "127.0.0.1:8211",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("Error: storage") and "Traceback" not in result.stderr
