"""Benchmark: the KV v2 read path of storage in-process (`storage.kv.read_version`, the agents' hot path),
on a real SQLite file: one secret read by path, N times, median of several rounds in µs per read.

Reports the time per read and, when values are encrypted at rest, the part of it spent decrypting (measured
on the same ciphertext), so the cost of encryption is visible next to the read it sits in; then a request's
share as the server pays it: the directory's commit check alone, and the check with the read in the commit
epoch it ended in (the row again from that epoch's rows, opened again: DECISIONS.md#d67).

Run: `.venv/bin/python tests/bench/bench_kv_read.py [--rounds 7] [--reads 20000]`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from vaultguard.service.secrets import rules
from vaultguard.service.storage.directory import Directory
from vaultguard.service.storage.kv import SecretsRepository, read_version
from vaultguard.service.storage.store import Store

try:  # absent before encryption at rest
    from vaultguard.service.storage import sealing
except ImportError:  # pragma: no cover
    sealing = None

VALUE = {"password": "s3cret-" + "x" * 40, "user": "app"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--reads", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        store.migrate()
        if sealing is not None:
            store.cipher = sealing.Cipher(sealing.new_key())
        with store.write() as tx:
            repo = SecretsRepository(tx)
            change = rules.write_version(None, "app/db", repo.config("root"), None, 1)
            repo.save("root", change, rules.encode_data(VALUE))
        assert rules.decode_data(read_version(store, "root", "app/db", 0)[2]) == VALUE
        per_read = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            for _ in range(args.reads):
                read_version(store, "root", "app/db", 0)
            per_read.append((time.perf_counter() - start) / args.reads * 1e6)
        print(f"read_version: median {statistics.median(per_read):.2f} µs/read (best {min(per_read):.2f})")
        if sealing is not None:
            sealed = store.cipher.seal(rules.encode_data(VALUE), sealing.kv_context("root", "app/db", 1))
            times = []
            for _ in range(args.rounds):
                start = time.perf_counter()
                for _ in range(args.reads):
                    store.cipher.open(sealed, sealing.kv_context("root", "app/db", 1))
                times.append((time.perf_counter() - start) / args.reads * 1e6)
            print(f"  of which decrypting: median {statistics.median(times):.2f} µs/read")
        # As a request reads: the directory's check first, then the read in the commit epoch the check ended in
        # (DECISIONS.md#d67): the same row again comes from that epoch's rows, still sealed.
        directory = Directory(store)
        per_request = {"check only": [], "check + read in the epoch": []}
        for _ in range(args.rounds):
            for name, with_read in (("check only", False), ("check + read in the epoch", True)):
                start = time.perf_counter()
                for _ in range(args.reads):
                    directory.current()
                    if with_read:
                        read_version(store, "root", "app/db", 0, directory.commit_epoch)
                per_request[name].append((time.perf_counter() - start) / args.reads * 1e6)
        for name, spent in per_request.items():
            print(f"  {name}: median {statistics.median(spent):.2f} µs/request")
        store.dispose()


if __name__ == "__main__":
    main()
