"""`make demo`: the quickstart end to end, with real components only.

1. Starts `vaultguard server --dev` (SQLite in a temporary directory, a file audit log) and
   `vaultguard dev-issuer` on free loopback ports.
2. Installs the provider (`vaultguard provider rc`) and applies examples/terraform/quickstart with the
   bundled Terraform (`vaultguard terraform`): a profile trusting the dev issuer, a human and two agents,
   baseline and ceiling policies, and the agents' registrations.
3. Plays the agents: gets tokens from the dev issuer's token endpoint and reads KV v2 secrets with them,
   allowed where baseline, ceiling and the token's authorization_details all agree and refused otherwise,
   then once more after a second apply deletes report-bot's registration.
4. Shows the audit log's decision and reason for each of those requests.

Every step states what it expects; the demo exits non-zero with a one-line explanation as soon as one
does not behave as shown, and it stops every process it started (also on Ctrl-C).
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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT_TOKEN = "demo-root-token"
QUICKSTART = Path(__file__).resolve().parent / "terraform" / "quickstart"
VAULTGUARD = str(Path(sys.executable).with_name("vaultguard"))
START_TIMEOUT = 30  # seconds for the server and the issuer to answer
TERRAFORM_TIMEOUT = 120

# The secrets the root token writes, and the agents then try to read.
SECRETS = {
    "reports/q3": {"revenue": "4.2M"},
    "reports/q4": {"revenue": "draft"},
    "payroll/march": {"total": "confidential"},
}

# Settings of the user's shell that would point Terraform or the provider elsewhere.
_SCRUBBED_PREFIXES = ("VAULT_", "TERRAFORM_VAULT_", "TF_")


class DemoFailed(Exception):
    """A step did not behave as shown; the message is the one line the user sees."""


def bold(text: str) -> str:
    return f"\033[1m{text}\033[0m" if sys.stdout.isatty() else text


def step(title: str) -> None:
    print(f"\n{bold('==> ' + title)}", flush=True)


def say(text: str) -> None:
    print(f"    {text}", flush=True)


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that are free now (held open together so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


class Processes:
    """The long-running processes the demo starts, each in its own process group so that stopping it
    also stops whatever it started (the server's workers)."""

    def __init__(self, logdir: Path):
        self.logdir = logdir
        self.running: list[subprocess.Popen] = []

    def start(self, name: str, argv: Sequence[str], env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
        log = self.logdir / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
            )
        self.running.append(proc)
        return proc, log

    def stop_all(self) -> None:
        for proc in reversed(self.running):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.running:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def wait_until_up(name: str, proc: subprocess.Popen, log: Path, url: str) -> None:
    """Poll `url` until it answers 200; fail with the process's last log line if it exits first."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise DemoFailed(f"the {name} exited with status {proc.returncode}: {last_line(log.read_text())}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or something else holds the port
            pass
        if time.monotonic() > deadline:
            raise DemoFailed(f"the {name} did not answer on {url} within {START_TIMEOUT} s")
        time.sleep(0.1)


class Terraform:
    """`vaultguard terraform ARGS` in the quickstart's copy; output captured, summarized on screen."""

    def __init__(self, workdir: Path, env: dict[str, str]):
        self.workdir = workdir
        self.env = env

    def run(self, *args: str) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(
                [VAULTGUARD, "terraform", args[0], "-no-color", *args[1:]],
                cwd=self.workdir,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=TERRAFORM_TIMEOUT,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise DemoFailed(f"terraform {args[0]} did not finish within {TERRAFORM_TIMEOUT} s") from None

    def ok(self, *args: str) -> subprocess.CompletedProcess:
        result = self.run(*args)
        if result.returncode != 0:
            raise DemoFailed(f"terraform {args[0]} exited with {result.returncode}: {terraform_error(result)}")
        return result

    def plan(self, expected: int) -> None:
        """`plan -detailed-exitcode`: 0 nothing to do, 2 changes pending (1 is an error)."""
        result = self.run("plan", "-detailed-exitcode")
        meaning = {0: "no changes", 2: "changes pending"}.get(result.returncode, "error")
        say(f"terraform plan -detailed-exitcode -> {result.returncode} ({meaning}), expected {expected}")
        if result.returncode != expected:
            detail = terraform_error(result) if result.returncode == 1 else meaning
            raise DemoFailed(f"terraform plan exited with {result.returncode}, expected {expected}: {detail}")

    def apply(self) -> None:
        result = self.ok("apply", "-auto-approve")
        summary = next((line for line in result.stdout.splitlines() if line.startswith("Apply complete!")), "")
        say(f"terraform apply -auto-approve -> {summary or 'done'}")


def terraform_error(result: subprocess.CompletedProcess) -> str:
    """The first `Error:` line Terraform printed (its diagnostics), else its last line."""
    text = result.stderr + result.stdout
    for line in text.splitlines():
        if line.strip().startswith("Error:"):
            return line.strip()
    return last_line(text)


@dataclass(frozen=True)
class Expected:
    """What an agent request must get: the status, a text the refusal carries, the audit log's reason."""

    status: int
    refusal: str
    reason: str
    why: str  # shown beside the request


ALLOWED = Expected(200, "", "allowed", "baseline, ceiling and token allow it")
OUTSIDE_DETAILS = Expected(403, "RAR_NO_MATCH", "rar_no_match", "outside authorization_details")
OUTSIDE_CEILING = Expected(403, "permission denied", "ceiling_no_matching_path", "outside the agent's ceiling")
NO_DETAILS = Expected(
    403, "authorization_details claim is required", "authorization_details_required", "no authorization_details"
)
UNREGISTERED = Expected(403, "permission denied", "subject_not_registered", "registration deleted")


class Agent:
    """Gets tokens from the dev issuer and makes requests with them, checking each answer."""

    def __init__(self, addr: str, token_url: str):
        self.addr = addr
        self.token_url = token_url
        self.session = requests.Session()
        self.made: list[tuple[str, Expected]] = []

    def token(self, client_id: str, *, reads: Sequence[str] = (), subject: str = "", actor: str = "") -> str:
        """A client_credentials token; `reads` become `authorization_details` (none: the claim is absent)."""
        form = {"grant_type": "client_credentials", "client_id": client_id}
        if subject:
            form.update(subject=subject, actor=actor)
        if reads:
            details = [{"type": "vault:path_access", "path": p, "capabilities": ["read"]} for p in reads]
            form["authorization_details"] = json.dumps(details)
        resp = self.session.post(self.token_url, data=form, timeout=10)
        if resp.status_code != 200:
            raise DemoFailed(f"the dev issuer refused a token for {client_id}: {resp.status_code} {resp.text[:200]}")
        flow = f"sub={subject}, act.sub={actor}" if subject else f"sub={client_id}"
        scope = ", ".join(f"read {p}" for p in reads) if reads else "no authorization_details"
        say(f"token for {client_id} ({flow}): {scope}")
        return resp.json()["access_token"]

    def read(self, who: str, token: str, path: str, expected: Expected) -> None:
        """GET `path` with `token`; the answer must be what `expected` says."""
        resp = self.session.get(f"{self.addr}/v1/{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        errors = resp.json().get("errors", []) if resp.status_code != 200 else []
        outcome = f"{resp.status_code} {short_errors(errors) or 'allowed'}"
        say(f"GET {path:<26} -> {outcome:<44} expected {expected.status}: {expected.why}")
        if resp.status_code != expected.status or expected.refusal not in " ".join(errors):
            raise DemoFailed(f"{who}: GET {path} answered {outcome}, expected {expected.status} ({expected.why})")
        if resp.status_code == 200 and resp.json()["data"]["data"] != SECRETS[path.removeprefix("secret/data/")]:
            raise DemoFailed(f"{who}: GET {path} returned other data than was written")
        self.made.append((path, expected))


def short_errors(errors: Sequence[str]) -> str:
    """Vault's errors in one short phrase: a multi-error ("2 errors occurred: * CODE: text * ...") shows
    each item's code, e.g. "RAR_NO_MATCH; permission denied"."""
    items = []
    for error in errors:
        parts = [p.strip() for p in error.split("\n\t*")]
        items += [p.split(":")[0] for p in parts[1:]] if len(parts) > 1 else [error]
    return "; ".join(item for item in items if item)


def show_audit(audit_log: Path, made: Sequence[tuple[str, Expected]], tokens: Sequence[str]) -> None:
    """The audit log's response line of each agent request (the ones carrying a JWT issuer), in order."""
    deadline = time.monotonic() + 5
    while True:  # the server writes the response line as it answers; give the file a moment
        entries = [json.loads(line) for line in audit_log.read_text().splitlines() if line.strip()]
        responses = [e for e in entries if e["type"] == "response" and "jwt_issuer" in e["auth"].get("metadata", {})]
        if len(responses) >= len(made) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if len(responses) != len(made):
        raise DemoFailed(f"the audit log holds {len(responses)} agent responses, expected {len(made)}")
    for entry, (path, expected) in zip(responses, made, strict=True):
        meta = entry["auth"]["metadata"]
        fields = f"decision={meta['decision']:<5} reason={meta['reason']}"
        if meta["decision"] == "deny":
            fields += f" (layer: {meta.get('layer', '-')})"
        agent = meta.get("agent_display_name", "-")
        say(f"{entry['request']['operation']} {entry['request']['path']:<27} agent={agent:<10} {fields}")
        decision = "allow" if expected.status == 200 else "deny"
        if (meta["decision"], meta["reason"], entry["request"]["path"]) != (decision, expected.reason, path):
            seen = f"{entry['request']['path']}: {meta['decision']}/{meta['reason']}"
            raise DemoFailed(f"the audit line says {seen}, expected {path}: {decision}/{expected.reason}")
    text = audit_log.read_text()
    if any(token in text for token in tokens):
        raise DemoFailed("an agent's JWT appears in the audit log in clear")
    say("no token appears in clear: the audit log records them as HMACs")


def run(workdir: Path, processes: Processes) -> None:
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}

    step("Checking that Terraform runs (the bundled CLI, or $TERRAFORM)")
    version = subprocess.run(
        [VAULTGUARD, "terraform", "version"], env=base_env, capture_output=True, text=True, timeout=60
    )
    if version.returncode != 0:
        raise DemoFailed(f"Terraform does not run: {last_line(version.stderr + version.stdout)}")
    say(version.stdout.splitlines()[0])

    step("Starting vaultguard server --dev (SQLite, audit log) and the development issuer")
    port, issuer_port = free_ports(2)
    addr, issuer = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{issuer_port}"
    audit_log = workdir / "audit.log"
    server, server_log = processes.start(
        "server",
        [VAULTGUARD, "server", "--dev", "--dev-root-token", ROOT_TOKEN, "--listen", f"127.0.0.1:{port}",
         "--audit-log", str(audit_log)],
        dict(base_env, VAULTGUARD_DATA_DIR=str(workdir / "data")),
    )  # fmt: skip
    dev_issuer, issuer_log = processes.start(
        "dev-issuer", [VAULTGUARD, "dev-issuer", "--listen", f"127.0.0.1:{issuer_port}"], base_env
    )
    wait_until_up("server", server, server_log, f"{addr}/v1/sys/health")
    wait_until_up("dev issuer", dev_issuer, issuer_log, f"{issuer}/.well-known/openid-configuration")
    discovery = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=5).json()
    say(f"server:     {addr} (storage: SQLite under {workdir / 'data'})")
    say(f"dev issuer: {discovery['issuer']} (JWKS {discovery['jwks_uri']})")

    step("Installing the provider and initializing the quickstart")
    cli_config = workdir / "vaultguard.tfrc"
    installed = subprocess.run(
        [VAULTGUARD, "provider", "rc", "--output", str(cli_config)], env=base_env, capture_output=True, text=True
    )
    if installed.returncode != 0:
        raise DemoFailed(f"vaultguard provider rc failed: {last_line(installed.stderr)}")
    say(installed.stdout.strip())
    config = workdir / "quickstart"
    shutil.copytree(QUICKSTART, config, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "*.tfvars"))
    tfvars = config / "terraform.tfvars"
    tfvars.write_text(f'issuer   = "{discovery["issuer"]}"\njwks_url = "{discovery["jwks_uri"]}"\n')
    say(f"copied the quickstart to {config}; terraform.tfvars: the dev issuer's issuer and jwks_url")
    terraform = Terraform(
        config,
        dict(
            base_env, TF_CLI_CONFIG_FILE=str(cli_config), VAULT_ADDR=addr, VAULT_TOKEN=ROOT_TOKEN,
            TF_IN_AUTOMATION="1", TF_INPUT="0", CHECKPOINT_DISABLE="1",
        ),
    )  # fmt: skip
    terraform.ok("init")
    if not (config / ".terraform.lock.hcl").exists():
        raise DemoFailed("terraform init wrote no lock file")
    say("terraform init -> the provider resolves from the local mirror, lock file written")

    step("Applying the quickstart: plan shows changes (2), apply, then plan is empty (0)")
    terraform.plan(expected=2)
    terraform.apply()
    terraform.plan(expected=0)

    step("Writing secrets with the root token")
    admin = requests.Session()
    admin.headers["X-Vault-Token"] = ROOT_TOKEN
    for name, data in SECRETS.items():
        resp = admin.post(f"{addr}/v1/secret/data/{name}", json={"data": data}, timeout=10)
        if resp.status_code != 200:
            raise DemoFailed(f"writing secret/{name} answered {resp.status_code}: {resp.text[:200]}")
        say(f"POST secret/data/{name} -> {resp.status_code}")

    agent = Agent(addr, discovery["token_endpoint"])
    step("report-bot, on its own, with a token for reports/q3 and payroll/march")
    direct = agent.token("report-bot", reads=["secret/data/reports/q3", "secret/data/payroll/march"])
    agent.read("report-bot", direct, "secret/data/reports/q3", ALLOWED)
    # The baseline and the ceiling allow it, but the token does not name it.
    agent.read("report-bot", direct, "secret/data/reports/q4", OUTSIDE_DETAILS)
    # The token and the baseline allow it, but the agent's ceiling does not.
    agent.read("report-bot", direct, "secret/data/payroll/march", OUTSIDE_CEILING)
    plain = agent.token("report-bot")
    agent.read("report-bot", plain, "secret/data/reports/q3", NO_DETAILS)

    step("assistant, on behalf of alice: her baseline, its ceiling, the token's details")
    delegated = agent.token(
        "assistant", subject="alice", actor="assistant",
        reads=["secret/data/reports/q3", "secret/data/payroll/march"],
    )  # fmt: skip
    agent.read("assistant for alice", delegated, "secret/data/reports/q3", ALLOWED)
    agent.read("assistant for alice", delegated, "secret/data/payroll/march", OUTSIDE_CEILING)

    step("Removing report-bot's registration: with_reporting_agent = false, plan (2), apply, plan (0)")
    tfvars.write_text(tfvars.read_text() + "with_reporting_agent = false\n")
    say("terraform.tfvars: with_reporting_agent = false")
    terraform.plan(expected=2)
    terraform.apply()
    terraform.plan(expected=0)
    say("report-bot's earlier token, on the very next request:")
    agent.read("report-bot", direct, "secret/data/reports/q3", UNREGISTERED)

    step(f"The audit log's decision for each agent request ({audit_log.name})")
    show_audit(audit_log, agent.made, [direct, plain, delegated])


def main() -> int:
    started = time.monotonic()
    # A plain `kill` of the demo stops what it started too (Ctrl-C raises KeyboardInterrupt already).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="vaultguard-demo-"))
    processes = Processes(workdir)
    try:
        run(workdir, processes)
    except DemoFailed as exc:
        print(f"\ndemo: {exc}", file=sys.stderr)
        return 1
    except (OSError, requests.RequestException, subprocess.SubprocessError) as exc:
        print(f"\ndemo: the environment got in the way: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ndemo: interrupted; stopping everything it started", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
        processes.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n    elapsed: {time.monotonic() - started:.1f} s")
    print(bold("demo finished: every step behaved as shown."))
    return 0


if __name__ == "__main__":
    sys.exit(main())
