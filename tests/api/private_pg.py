"""A PostgreSQL instance of a test's own (initdb in a temporary directory, a free loopback port), so the test can
crash it and start it again without touching the shared server at 127.0.0.1:5432.

PostgreSQL refuses to run as root. Run as root (as CI does), the instance runs as the `postgres` system user
in a directory that user owns; otherwise as the current user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import vgtest


def _bin_dir() -> Path | None:
    """The newest installed server binaries (Debian's /usr/lib/postgresql/N/bin, or initdb on PATH)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parent.parent.name)
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def unavailable_reason() -> str | None:
    """Why no private instance can run here, or None when one can."""
    if _bin_dir() is None:
        return "no PostgreSQL server binaries (initdb, postgres) in /usr/lib/postgresql/*/bin or on PATH"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` system user to run the instance as"
    return None


class PrivatePostgres:
    """`start()`, `crash()` (SIGKILL of the postmaster and every backend at once), `start()` again on the same
    port and data, `close()` (stop and remove everything)."""

    def __init__(self):
        bin_dir = _bin_dir()
        assert bin_dir is not None, unavailable_reason()
        self.bin = bin_dir
        self.user = "postgres" if os.geteuid() == 0 else None  # run as: postgres refuses root
        self.home = Path(tempfile.mkdtemp(prefix="vaultguard-pg-"))  # not under pytest's root-only tmp_path
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.home, entry.pw_uid, entry.pw_gid)
        self.data = self.home / "data"
        self.port = vgtest.free_port()
        self.proc: subprocess.Popen | None = None
        self.log = self.home / "postgres.log"
        self._run(
            [str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync",
             "-E", "UTF8", "--locale=C"],
        )  # fmt: skip

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, cmd: list[str]) -> None:
        done = subprocess.run(cmd, user=self.user, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    def start(self, timeout: float = 30) -> PrivatePostgres:
        """Start the postmaster (crash recovery included when the last stop was a crash) and wait until it
        accepts connections."""
        import psycopg

        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": "",  # loopback TCP only: no socket file in a shared directory
            "max_connections": "200",
            # Crash recovery syncs the data directory first: one syncfs() instead of an fsync() per file.
            "recovery_init_sync_method": "syncfs",
        }
        cmd = [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port)]
        for name, value in settings.items():
            cmd += ["-c", f"{name}={value}"]
        self.proc = subprocess.Popen(
            cmd, user=self.user, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                with psycopg.connect(self.admin_url, connect_timeout=2):
                    return self
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    log = self.log.read_text()
                    raise RuntimeError(f"postgres did not accept connections in {timeout}s:\n{log}") from exc
                time.sleep(0.05)

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def crash(self) -> None:
        """Kill the postmaster and all its backends with SIGKILL, as a machine or container dying would: no
        shutdown checkpoint, open transactions cut, clients see their connections drop."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        # Backends are in the postmaster's session too; wait for the last one, so a restart finds the port free.
        deadline = time.monotonic() + 10
        while _group_alive(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # immediate shutdown: nothing to keep
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.home, ignore_errors=True)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
