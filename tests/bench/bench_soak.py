"""Benchmark: does a worker's memory stay flat under a steady mixed load?

One server with 2 workers (SQLite, or PostgreSQL with `--pg`) serves, for `--duration` seconds, agent KV reads
with a JWT (the hot path) from several threads, and admin writes from one more: KV versions over a fixed set
of paths (older versions pruned), policy rewrites, entities created and deleted again, admin tokens created and
revoked. The set of live objects stays bounded, so memory that keeps growing is a leak, not data.

Every `--interval` seconds the resident set size (VmRSS) of each worker process is sampled. The first
`--warmup` seconds fill the caches, the allocator's arenas and the connection pools and are not judged; the
verdict compares each worker's RSS at the end of the warm-up (median of the samples of its last 5 s) with its
RSS at the end of the run (median of the last 5 s).

Bound: growth after warm-up below 10 % per worker. A worker holds about 100 MB; 10 % of it spread over the
requests served after warm-up is reported as the smallest steady leak per request the bound would catch
(with the defaults, about a kilobyte per request). Below the bound lies allocator noise (arenas are not
returned at once).

Admin writes are paced (`--write-rate`, default 2 per second, a busy deployment's steady admin traffic). Each
write changes the storage generation; nothing kept per generation may pile up: compiled templated policies
(the built-in `default` is one) are keyed by the identity they read, not by the generation, so unrelated writes
compile nothing new (before that, each write kept about 30 KiB more per worker until the policy cache emptied:
measured with `--duration 45 --warmup 10 --write-rate 30`, +17 % and +15 % per worker before, +0.5 % and
+0.7 % after). Run longer and faster (`--duration 300 --write-rate 30`) to look for slower leaks.

Run: `.venv/bin/python tests/bench/bench_soak.py [--duration 60] [--warmup 15] [--pg]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import requests

TESTS = Path(__file__).resolve().parents[1]
for folder in (TESTS, TESTS / "api", TESTS / "bench"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from bench_http import SECRET_PATH, agent_token  # noqa: E402

import vgtest  # noqa: E402

GROWTH_BOUND = 0.10
WINDOW = 5.0  # seconds of samples whose median stands for "at the end of the warm-up" and "at the end"
READERS = 4
KV_PATHS = 20
WRITE_RATE = 2.0


def rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class Soak:
    def __init__(self, server: vgtest.Server, token: str, write_rate: float):
        self.server, self.token, self.write_rate = server, token, write_rate
        self.stopping = threading.Event()
        self.answers: Counter[str] = Counter()  # "read 200", "write 204", "read error", ...
        self._lock = threading.Lock()

    def count(self, kind: str, resp: requests.Response | None) -> None:
        with self._lock:
            self.answers[f"{kind} {resp.status_code if resp is not None else 'no answer'}"] += 1

    def served(self) -> int:
        with self._lock:
            return sum(n for key, n in self.answers.items() if key.split()[1].startswith("2"))

    def read(self) -> None:
        url = f"{self.server.url}/v1/secret/data/{SECRET_PATH}"
        with requests.Session() as session:
            while not self.stopping.is_set():
                self.count("read", self._send(session, "GET", url, self.token))

    def write(self) -> None:
        admin = self.server.root_token
        base = f"{self.server.url}/v1"
        started = time.monotonic()
        with requests.Session() as session:
            for i in range(10**9):
                # Paced: write number i is due i / rate seconds after the start.
                if self.stopping.wait(max(0.0, started + i / self.write_rate - time.monotonic())):
                    return
                step = i % 4
                if step == 0:
                    resp = self._send(session, "POST", f"{base}/secret/data/soak/{i % KV_PATHS}", admin,
                                      {"data": {"value": uuid.uuid4().hex, "i": i}})  # fmt: skip
                elif step == 1:
                    policy = f'path "secret/data/soak/{i}" {{ capabilities = ["read"] }}'
                    resp = self._send(session, "POST", f"{base}/sys/policies/acl/soak-{i % 5}", admin,
                                      {"policy": policy})  # fmt: skip
                elif step == 2:
                    resp = self._send(session, "POST", f"{base}/identity/entity", admin, {"name": f"soak-{i}"})
                    if resp is not None and resp.status_code == 200:
                        entity = resp.json()["data"]["id"]
                        self.count("write", resp)
                        resp = self._send(session, "DELETE", f"{base}/identity/entity/id/{entity}", admin)
                else:
                    resp = self._send(session, "POST", f"{base}/auth/token/create", admin, {"policies": ["default"]})
                    if resp is not None and resp.status_code == 200:
                        child = resp.json()["auth"]["client_token"]
                        self.count("write", resp)
                        resp = self._send(session, "POST", f"{base}/auth/token/revoke-self", child)
                self.count("write", resp)

    @staticmethod
    def _send(session: requests.Session, method: str, url: str, token: str, body: dict | None = None):  # noqa: ANN205
        try:
            return session.request(method, url, json=body, headers={"X-Vault-Token": token}, timeout=30)
        except requests.RequestException:
            time.sleep(0.1)
            return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load in all (default 60)")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds not judged, at the start (default 15)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between RSS samples (default 0.5)")
    parser.add_argument("--write-rate", type=float, default=WRITE_RATE,
                        help=f"admin writes per second, paced (default {WRITE_RATE:g}; 0: none)")  # fmt: skip
    parser.add_argument("--pg", action="store_true", help="PostgreSQL at 127.0.0.1:5432 instead of SQLite")
    args = parser.parse_args()
    if args.duration < args.warmup + 2 * WINDOW:
        parser.error(f"--duration must be at least --warmup + {2 * WINDOW:.0f} s")

    workdir = Path(tempfile.mkdtemp(prefix="vaultguard-bench-soak-"))
    pg_name = server = None
    try:
        if args.pg:
            if not vgtest.pg_available():
                print("PostgreSQL at 127.0.0.1:5432 is not reachable: soak not run  MISS")
                return 1
            pg_name, storage = vgtest.create_pg_database()
        else:
            storage = "sqlite:///" + str(workdir / "soak.db")
        server = vgtest.Server(storage, workdir, workers=2).start()
        token, _world = agent_token(server)
        workers = server.worker_pids()
        soak = Soak(server, token, args.write_rate)
        threads = [threading.Thread(target=soak.read) for _ in range(READERS)]
        if args.write_rate > 0:
            threads.append(threading.Thread(target=soak.write))
        print(f"soak: {args.duration:.0f} s ({args.warmup:.0f} s warm-up), 2 workers on "
              f"{'PostgreSQL' if args.pg else 'SQLite'}, {READERS} agent reader threads (KV read with a JWT) and 1 "
              f"admin writer; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")  # fmt: skip

        samples: dict[int, list[tuple[float, int]]] = {pid: [] for pid in workers}
        start = time.monotonic()
        for thread in threads:
            thread.start()
        served_at_warmup = None
        try:
            while (now := time.monotonic() - start) < args.duration:
                if served_at_warmup is None and now >= args.warmup:
                    served_at_warmup = soak.served()
                for pid in workers:
                    kib = rss_kib(pid)
                    if kib is None:
                        print(f"worker {pid} is gone: it died during the soak  MISS")
                        return 1
                    samples[pid].append((now, kib))
                time.sleep(args.interval)
        finally:
            soak.stopping.set()
            for thread in threads:
                thread.join(timeout=35)
        served_after_warmup = soak.served() - (served_at_warmup or 0)
        failed = {key: n for key, n in soak.answers.items() if not key.split()[1].startswith("2")}
        print(f"  served {soak.served()} requests ({soak.served() / args.duration:.0f}/s), "
              f"{served_after_warmup} after warm-up; answers: {dict(sorted(soak.answers.items()))}")  # fmt: skip

        ok = not failed
        if failed:
            print(f"  requests not served: {failed}  MISS")
        for pid in workers:
            series = samples[pid]
            warm = statistics.median(k for t, k in series if args.warmup - WINDOW <= t < args.warmup)
            end = statistics.median(k for t, k in series if t >= series[-1][0] - WINDOW)
            peak = max(k for _, k in series)
            growth = (end - warm) / warm
            detectable = GROWTH_BOUND * warm * 1024 / max(1, served_after_warmup / len(workers))
            within = growth < GROWTH_BOUND
            ok = ok and within
            trace = " ".join(f"{k / 1024:.0f}" for t, k in series[:: max(1, round(10 / args.interval))])
            print(f"  worker {pid}: RSS every 10 s (MiB): {trace}")
            print(f"  worker {pid}: RSS after warm-up {warm / 1024:.1f} MiB, at the end {end / 1024:.1f} MiB "
                  f"(peak {peak / 1024:.1f} MiB), growth {growth:+.1%} (bound < {GROWTH_BOUND:.0%}: a steady leak "
                  f"of {detectable:.0f} bytes per request would reach it)  {'PASS' if within else 'MISS'}")  # fmt: skip
        return 0 if ok else 1
    finally:
        if server is not None:
            server.stop()
        if pg_name is not None:
            vgtest.drop_pg_database(pg_name)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
