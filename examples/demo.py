"""`make demo`: start a dev server on SQLite, write a profile, an entity, an alias, a policy and an agent
registration through the Vault-compatible API, show them, and stop the server.

The full quickstart (Terraform, a dev issuer and an agent's requests) replaces this script later; until
then this shows the service's admin API end to end. Exits non-zero if any step misbehaves.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ROOT_TOKEN = "demo-root-token"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def step(title: str) -> None:
    print(f"\n\033[1m==> {title}\033[0m")


def show(resp: requests.Response, expect: int) -> dict:
    body = resp.json() if resp.content else {}
    print(f"    {resp.request.method} {resp.request.path_url} -> {resp.status_code}")
    if body:
        text = json.dumps(body.get("data", body), indent=2)
        print("    " + text.replace("\n", "\n    "))
    if resp.status_code != expect:
        raise SystemExit(f"demo: expected HTTP {expect}, got {resp.status_code}: {resp.text}")
    return body


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="vaultguard-demo-"))
    port = _port()
    addr = f"http://127.0.0.1:{port}"
    vaultguard = shutil.which("vaultguard", path=str(Path(sys.executable).parent)) or "vaultguard"
    server = subprocess.Popen(
        [vaultguard, "server", "--dev", "--dev-root-token", ROOT_TOKEN, "--listen", f"127.0.0.1:{port}"],
        env=dict(os.environ, VAULTGUARD_DATA_DIR=str(workdir)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        step("Starting the dev server")
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None:
                raise SystemExit(f"demo: the server exited:\n{server.stdout.read() if server.stdout else ''}")
            try:
                requests.get(addr + "/v1/sys/health", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise SystemExit("demo: the server did not start within 30 s") from None
                time.sleep(0.2)
        print(f"    listening on {addr} (storage: SQLite under {workdir})")
        s = requests.Session()
        s.headers["X-Vault-Token"] = ROOT_TOKEN

        step("Trusting an issuer: an OAuth resource server profile with a static EC key")
        pem = (
            ec.generate_private_key(ec.SECP256R1())
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        show(
            s.post(
                f"{addr}/v1/sys/config/oauth-resource-server/demo-idp",
                json={
                    "issuer_id": "https://IdP.example.com/",
                    "use_jwks": False,
                    "public_keys": [{"key_id": "k1", "pem": pem}],
                    "audiences": ["https://vaultguard.example.com"],
                    "supported_algorithms": ["ES256"],
                },
            ),
            200,
        )
        profile = show(s.get(f"{addr}/v1/sys/config/oauth-resource-server/demo-idp"), 200)["data"]
        assert profile["issuer_id"] == "https://idp.example.com", "issuer is normalized"

        step("A ceiling policy for the agent")
        policy = 'path "secret/data/reports/*" {\n  capabilities = ["read"]\n}\n'
        show(s.put(f"{addr}/v1/sys/policies/acl/reports-reader", json={"policy": policy}), 204)

        step("The agent's identity: an entity and its OAuth alias")
        entity = show(s.post(f"{addr}/v1/identity/entity", json={"name": "report-bot"}), 200)["data"]
        show(
            s.post(
                f"{addr}/v1/identity/entity-alias",
                json={
                    "name": "report-bot",
                    "canonical_id": entity["id"],
                    "issuer": "https://idp.example.com",
                    "external_id": "client-report-bot",
                },
            ),
            200,
        )

        step("Registering the agent with its ceiling")
        show(
            s.post(
                f"{addr}/v1/agent-registry/register",
                json={
                    "display_name": "report-bot",
                    "entity_id": entity["id"],
                    "owner": "platform-team",
                    "ceiling_policies": ["reports-reader"],
                },
            ),
            200,
        )
        show(s.get(f"{addr}/v1/agent-registry/registration/display-name/report-bot"), 200)

        step("A second registration for the same entity is refused")
        show(
            s.post(
                f"{addr}/v1/agent-registry/register",
                json={"display_name": "report-bot-2", "entity_id": entity["id"]},
            ),
            400,
        )

        step("Listing registrations")
        show(s.request("LIST", f"{addr}/v1/agent-registry/registration/display-name"), 200)
        print("\n\033[1mdemo finished: every step behaved as shown.\033[0m")
        return 0
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
