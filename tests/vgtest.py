"""Test support: a real `vaultguard server` process on loopback, and an HTTP client for it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

VAULTGUARD = str(Path(sys.executable).with_name("vaultguard"))
# One key-encryption key for the servers of a test run, so that servers sharing a PostgreSQL database (replicas,
# restarts, the session's database) open each other's data key; `env={ENCRYPTION_KEY_ENV: None}` removes it.
ENCRYPTION_KEY_ENV = "VAULTGUARD_ENCRYPTION_KEY"
TEST_ENCRYPTION_KEY = "dGVzdC1vbmx5LWtleS1lbmNyeXB0aW9uLWtleS0zMmI="  # 32 bytes, for tests only
PG_ADMIN_URL = "postgresql://127.0.0.1:5432/test"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files `server.crt` and `server.key`."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One server process; `start`, `stop`, `kill` (SIGKILL) and `restart` keep the same storage."""

    def __init__(
        self,
        storage_url: str,
        workdir: Path,
        workers: int = 1,
        root_token: str | None = None,
        config_file: Path | None = None,
        scheme: str = "http",
        audit_log: Path | None = None,
        extra_args: tuple[str, ...] = (),
        env: dict[str, str | None] | None = None,
    ):
        self.env = env or {}  # environment changes for the server process (None removes a variable)
        self.storage_url = storage_url
        self.audit_log = audit_log  # `--audit-log PATH`: a file audit device (JSON lines)
        self.config_file = config_file
        self.extra_args = extra_args  # more `vaultguard server` flags, e.g. ("--grpc-listen", "127.0.0.1:PORT")
        self.scheme = scheme
        self.workdir = workdir
        self.workers = workers
        self.root_token = root_token or "root-" + uuid.uuid4().hex
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log = workdir / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> Server:
        env = dict(os.environ, VAULTGUARD_DATA_DIR=str(self.workdir))
        env.setdefault(ENCRYPTION_KEY_ENV, TEST_ENCRYPTION_KEY)
        for name, value in self.env.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        cmd = [
            VAULTGUARD, "server", "--dev", "--dev-root-token", self.root_token,
            "--listen", f"127.0.0.1:{self.port}", "--storage", self.storage_url, "--workers", str(self.workers),
        ]  # fmt: skip
        if self.config_file is not None:
            cmd = [
                VAULTGUARD,
                "server",
                "--config",
                str(self.config_file),
                "--listen",
                f"127.0.0.1:{self.port}",
            ]
        if self.audit_log is not None:
            cmd += ["--audit-log", str(self.audit_log)]
        cmd += list(self.extra_args)
        self.proc = subprocess.Popen(
            cmd, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if requests.get(self.url + "/v1/sys/health", timeout=1, verify=False).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not answer within {timeout}s:\n{self.log.read_text()}")

    def _signal(self, sig: int) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def worker_pids(self) -> list[int]:
        """The process ids of the server's worker processes (`--workers N`, N > 1), from /proc (Linux)."""
        assert self.proc is not None
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return [pid for pid in map(int, children) if "spawn_main" in _cmdline(pid)]

    def client(self, namespace: str = "", token: str | None = None) -> Client:
        return Client(self.url, self.root_token if token is None else token, namespace)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:  # gone meanwhile
        return ""


class Client:
    """Thin HTTP client speaking to the server the way Vault clients do."""

    def __init__(self, url: str, token: str, namespace: str = ""):
        self.url = url
        self.token = token
        self.namespace = namespace
        self.session = requests.Session()

    def request(self, method: str, path: str, json: Any = None, headers: dict | None = None, **kw: Any):
        hdrs = {"X-Vault-Request": "true"}
        if self.token:
            hdrs["X-Vault-Token"] = self.token
        if self.namespace:
            hdrs["X-Vault-Namespace"] = self.namespace
        hdrs.update(headers or {})
        return self.session.request(
            method, f"{self.url}/v1/{path.lstrip('/')}", json=json, headers=hdrs, timeout=30, **kw
        )

    def get(self, path: str, **kw: Any):
        return self.request("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any):
        return self.request("POST", path, json=json, **kw)

    def list(self, path: str, **kw: Any):
        return self.request("LIST", path, **kw)

    def delete(self, path: str, **kw: Any):
        return self.request("DELETE", path, **kw)

    def with_token(self, token: str) -> Client:
        return Client(self.url, token, self.namespace)


def slow_polling_replica(pg_database: str, workdir: Path, workers: int) -> Server:
    """A replica that polls the database only once a minute: whatever it enforces sooner came by NOTIFY."""
    token = "hvs.replica-" + uuid.uuid4().hex
    (workdir / "token").write_text(token + "\n")
    config = workdir / "server.hcl"
    config.write_text(
        f"""
        listener "tcp" {{ address = "127.0.0.1:1" }}
        storage "sql" {{
          url                       = "{pg_database}"
          replica_propagation_bound = "60s"
        }}
        initial_root_token_file = "{workdir / "token"}"
        workers                 = {workers}
        """
    )
    return Server("", workdir, config_file=config, root_token=token).start()


@contextlib.contextmanager
def grpc_server(storage_url: str, workdir: Path, **kw: Any) -> Iterator[Server]:
    """A started two-worker server that also serves the gRPC decision API (the workers share its port, named
    by `grpc_address`); stopped on exit. `kw` as for Server (e.g. audit_log)."""
    address = f"127.0.0.1:{free_port()}"
    srv = Server(storage_url, workdir, workers=2, extra_args=("--grpc-listen", address), **kw).start()
    srv.grpc_address = address
    try:
        yield srv
    finally:
        srv.stop()


def pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except Exception:
        return False


def create_pg_database() -> tuple[str, str]:
    import psycopg

    name = "vg_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, f"postgresql+psycopg://127.0.0.1:5432/{name}"


def drop_pg_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def unseal(store: Any) -> Any:
    """Give an in-process `Store` (schema migrated) the data key under the test run's key, as a server start
    does, so it can read and write secret values; returns the store."""
    from vaultguard.service.storage.sealing import Keyring, prepare_data_key

    store.cipher = prepare_data_key(store, Keyring.parse(TEST_ENCRYPTION_KEY, "the test key"))
    return store
