"""Benchmark: the decision API's two transports against the same server's `sys/health` (DECISIONS.md#d57).

A gateway asks the decision API about every request it passes, so what one question costs is added to every
agent request behind it. One real `vaultguard server --dev` with the gRPC listener on, a real agent setup
(tests/bench/bench_http.py's), one RS256 token allowed to read one secret, and the same question asked by:

- `POST sys/authorize` over HTTP/1.1 (JSON body, the root token as the asking gateway's);
- gRPC `Check` (vaultguard.decision.v1.DecisionService) over HTTP/2, the same question and caller;
- `sys/health` over HTTP/1.1 as the reference;
- the same `Check` answered by a bare gRPC server (tests/bench/bare_grpc.py: a fixed answer, the same gRPC
  stack and event loop, nothing else): the floor of the gRPC stack, which bounds what `Check` can reach.

Closed loops with the same number of client processes and requests in flight, in alternating rounds (the
best round of each counts), as in bench_http.py. Target: gRPC `Check` throughput at least twice
`sys/authorize`'s. Every question is audited the same way by both transports (no audit device by default,
`--audit` adds a file device).

Run: `.venv/bin/python tests/bench/bench_decision_api.py [--quick] [--audit] [--workers N]`; exits 1 on a miss.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import bench_http as http  # also puts tests/ on sys.path

import vgtest

GRPC_TARGET = 2.0  # gRPC Check / sys/authorize


async def _grpc_closed_loop(address: str, request: bytes, token: str, in_flight: int, start_at: float,
                            warmup: float, duration: float) -> dict:  # fmt: skip
    """`in_flight` Check calls back to back on one channel (HTTP/2 multiplexes them, as a gateway's client
    would); counts the answers completed inside the window."""
    import grpc

    from vaultguard.proto.decision.v1 import decision_pb2, decision_pb2_grpc

    question = decision_pb2.CheckRequest.FromString(request)
    metadata = (("x-vault-token", token),)
    async with grpc.aio.insecure_channel(address) as channel:
        stub = decision_pb2_grpc.DecisionServiceStub(channel)
        assert (await stub.Check(question, metadata=metadata, timeout=30)).allowed

        async def ask() -> bool:
            return (await stub.Check(question, metadata=metadata, timeout=30)).allowed

        return await http.count_window([ask] * in_flight, start_at, warmup, duration)


def grpc_closed_loop(server: vgtest.Server, request: bytes, token: str, processes: int, in_flight: int,
                     warmup: float, duration: float) -> http.Phase:  # fmt: skip
    per_process = max(1, in_flight // processes)
    results, server_us, client_us = http.run_phase(
        _grpc_closed_loop, server, processes,
        lambda _i, start_at: (server.grpc_address, request, token, per_process, start_at, warmup, duration),
    )  # fmt: skip
    return http.Phase(sum(r["count"] for r in results) / duration, server_us, client_us, [])


class BareGrpc:
    """tests/bench/bare_grpc.py on a free port, in a process group of its own (for its CPU time)."""

    def __init__(self) -> None:
        self.grpc_address = f"127.0.0.1:{vgtest.free_port()}"
        script = Path(__file__).with_name("bare_grpc.py")
        self.proc = subprocess.Popen([sys.executable, str(script), self.grpc_address], start_new_session=True)
        http.wait_for_port(int(self.grpc_address.rsplit(":", 1)[1]), self.proc)

    def stop(self) -> None:
        http.stop_group(self.proc)


def authorize_request(port: int, root_token: str, question: dict) -> bytes:
    body = json.dumps(question).encode()
    head = ["POST /v1/sys/authorize HTTP/1.1", f"Host: 127.0.0.1:{port}", "X-Vault-Request: true",
            f"X-Vault-Token: {root_token}", "Content-Type: application/json",
            f"Content-Length: {len(body)}"]  # fmt: skip
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def main() -> int:
    from vaultguard.proto.decision.v1 import decision_pb2

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one short round")
    parser.add_argument("--audit", action="store_true", help="a file audit device (JSON lines) on the server")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (default 1)")
    parser.add_argument("--clients", type=int, default=2, help="load generator processes (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="requests in flight in all (default 32)")
    args = parser.parse_args()
    rounds, warmup, duration = (1, 1.0, 4.0) if args.quick else (3, 2.0, 6.0)

    workdir = Path(tempfile.mkdtemp(prefix="vaultguard-bench-decision-"))
    http.share_metrics(workdir, args.workers)
    server = bare = None
    try:
        grpc_address = f"127.0.0.1:{vgtest.free_port()}"
        audit_log = workdir / "audit.log" if args.audit else None
        server = vgtest.Server("sqlite:///" + str(workdir / "bench.db"), workdir, workers=args.workers,
                               audit_log=audit_log, extra_args=("--grpc-listen", grpc_address))  # fmt: skip
        server.start()
        server.grpc_address = grpc_address
        token, _world = http.agent_token(server)
        question = {"token": token, "operation": "read", "path": f"secret/data/{http.SECRET_PATH}"}
        check = decision_pb2.CheckRequest(**question).SerializeToString()
        health = http._raw_request(server.port, "/v1/sys/health", None)
        authorize = authorize_request(server.port, server.root_token, question)
        print(f"server: {args.workers} worker(s), SQLite{', file audit device' if args.audit else ''}; load: "
              f"{args.clients} client processes, {args.connections} requests in flight; {os.cpu_count()} cores, "
              f"load average {os.getloadavg()[0]:.1f} before the run")  # fmt: skip
        bare = BareGrpc()
        measure = {
            "sys/health": lambda: http.closed_loop(server, health, args.clients, args.connections, warmup, duration),
            "sys/authorize": lambda: http.closed_loop(server, authorize, args.clients, args.connections, warmup,
                                                      duration),
            "gRPC Check": lambda: grpc_closed_loop(server, check, server.root_token, args.clients, args.connections,
                                                   warmup, duration),
            "bare gRPC": lambda: grpc_closed_loop(bare, check, "", args.clients, args.connections, warmup, duration),
        }  # fmt: skip
        phases: dict[str, list[http.Phase]] = {name: [] for name in measure}
        for r in range(rounds):
            for name, run in measure.items():
                phase = run()
                phases[name].append(phase)
                print(f"  round {r + 1}: {name:14s} {phase.rps:7.0f} req/s | CPU per request: server "
                      f"{phase.server_cpu_us:5.0f} µs, load generator {phase.client_cpu_us:4.0f} µs")  # fmt: skip
        peak = {name: max(p.rps for p in runs) for name, runs in phases.items()}
        cpu = {name: statistics.median(p.server_cpu_us for p in runs) for name, runs in phases.items()}
        for name in measure:
            print(f"peak {name:14s} {peak[name]:7.0f} req/s (best of {rounds}), "
                  f"{peak[name] / peak['sys/health']:.2f} of sys/health")  # fmt: skip
        print(f"  server CPU per request: sys/authorize {cpu['sys/authorize']:.0f} µs, gRPC Check "
              f"{cpu['gRPC Check']:.0f} µs, of which the bare gRPC stack's {cpu['bare gRPC']:.0f} µs")  # fmt: skip
        ratio = peak["gRPC Check"] / peak["sys/authorize"]
        ok = ratio >= GRPC_TARGET
        print(f"gRPC Check / sys/authorize throughput = {ratio:.2f} (target ≥ {GRPC_TARGET:.1f})  "
              f"{'PASS' if ok else 'MISS'}")  # fmt: skip
        return 0 if ok else 1
    finally:
        for running in (server, bare):
            if running is not None:
                running.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
