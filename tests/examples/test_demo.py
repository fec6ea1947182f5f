"""`make demo` (examples/demo.py): the quickstart end to end with the real server, dev issuer and Terraform.

The demo checks each of its own steps; these tests check that it shows them, exits 0 within its time budget,
stops what it started, and fails in one line when the environment is not usable.
"""

from __future__ import annotations

import os
import re
import runpy
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest
import requests

import vgtest

pytestmark = pytest.mark.terraform

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.py"


class DemoRun(NamedTuple):
    rc: int
    stdout: str
    stderr: str


def run_demo(**env: str) -> DemoRun:
    completed = subprocess.run(
        [sys.executable, str(DEMO)],
        capture_output=True,
        text=True,
        timeout=150,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
    )
    return DemoRun(completed.returncode, completed.stdout, completed.stderr)


def addresses(stdout: str) -> list[str]:
    """The server's and the dev issuer's URLs, as the demo prints them."""
    return re.findall(r"^\s+(?:server|dev issuer):\s+(http://127\.0\.0\.1:\d+)", stdout, re.MULTILINE)


def answers(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
        return True
    except requests.ConnectionError:
        return False


@pytest.fixture(scope="module")
def demo() -> DemoRun:
    return run_demo()


def test_the_demo_runs_every_step_and_exits_zero_within_two_minutes(demo):
    assert demo.rc == 0, demo.stdout + demo.stderr
    assert demo.stdout.rstrip().splitlines()[-1].endswith("every step behaved as shown.")
    elapsed = float(re.search(r"elapsed: ([\d.]+) s", demo.stdout).group(1))
    assert elapsed < 120


def test_the_demo_shows_the_allowed_request_and_each_refusal(demo):
    requests_shown = re.findall(r"GET (\S+)\s+-> (\d{3}) (.+?)\s{2,}expected \d{3}: (.+)", demo.stdout)
    assert [(path, status, why) for path, status, _, why in requests_shown] == [
        ("secret/data/reports/q3", "200", "baseline, ceiling and token allow it"),
        ("secret/data/reports/q4", "403", "outside authorization_details"),
        ("secret/data/payroll/march", "403", "outside the agent's ceiling"),
        ("secret/data/reports/q3", "403", "no authorization_details"),
        ("secret/data/reports/q3", "200", "baseline, ceiling and token allow it"),  # the delegated agent
        ("secret/data/payroll/march", "403", "outside the agent's ceiling"),
        ("secret/data/reports/q3", "403", "registration deleted"),
    ]
    refusals = [answer for _, status, answer, _ in requests_shown if status == "403"]
    assert refusals == [
        "RAR_NO_MATCH; permission denied",
        "permission denied",
        "authorization_details claim is required",
        "permission denied",
        "permission denied",
    ]


def test_the_demo_shows_plan_going_from_changes_to_none_after_each_apply(demo):
    codes = re.findall(r"terraform plan -detailed-exitcode -> (\d)", demo.stdout)
    assert codes == ["2", "0", "2", "0"]
    applies = re.findall(r"terraform apply -auto-approve -> (.+)", demo.stdout)
    assert applies == [
        "Apply complete! Resources: 11 added, 0 changed, 0 destroyed.",
        "Apply complete! Resources: 0 added, 0 changed, 1 destroyed.",
    ]


def test_the_demo_shows_the_audit_decision_of_each_agent_request(demo):
    audit = re.findall(r"read (\S+)\s+agent=(\S+)\s+decision=(\w+)\s+reason=(\w+)", demo.stdout)
    assert audit == [
        ("secret/data/reports/q3", "report-bot", "allow", "allowed"),
        ("secret/data/reports/q4", "report-bot", "deny", "rar_no_match"),
        ("secret/data/payroll/march", "report-bot", "deny", "ceiling_no_matching_path"),
        ("secret/data/reports/q3", "report-bot", "deny", "authorization_details_required"),
        ("secret/data/reports/q3", "assistant", "allow", "allowed"),
        ("secret/data/payroll/march", "assistant", "deny", "ceiling_no_matching_path"),
        ("secret/data/reports/q3", "-", "deny", "subject_not_registered"),
    ]


def test_the_demo_stops_the_server_and_the_issuer_it_started(demo):
    started = addresses(demo.stdout)
    assert len(started) == 2, demo.stdout
    assert not any(answers(url) for url in started)


def test_a_missing_terraform_is_one_line_and_a_non_zero_exit():
    result = run_demo(TERRAFORM="/nonexistent/terraform")

    assert result.rc != 0
    assert "Traceback" not in result.stdout + result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("demo: Terraform does not run: ") and "cannot run /nonexistent/terraform" in line


def _as_from_a_terminal() -> None:
    # A test run started in the background of a non-interactive shell ignores SIGINT, and children inherit
    # that; a demo started from a terminal has Ctrl-C's default disposition.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_everything_the_demo_started():
    proc = subprocess.Popen(
        [sys.executable, str(DEMO)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL, preexec_fn=_as_from_a_terminal,
    )  # fmt: skip
    shown = ""
    assert proc.stdout is not None
    for line in proc.stdout:  # until both processes are up
        shown += line
        if "dev issuer:" in line:
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)

    assert proc.returncode == 130, shown + out + err
    assert err.strip().splitlines() == ["demo: interrupted; stopping everything it started"]
    started = addresses(shown)
    assert len(started) == 2 and not any(answers(url) for url in started)


def test_a_server_that_cannot_start_is_reported_in_one_line(tmp_path):
    demo = runpy.run_path(str(DEMO))  # the demo's own helpers, on a port something else holds
    processes = demo["Processes"](tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        try:
            server, log = processes.start(
                "server", [vgtest.VAULTGUARD, "server", "--dev", "--listen", f"127.0.0.1:{port}"],
                dict(os.environ, VAULTGUARD_DATA_DIR=str(tmp_path)),
            )  # fmt: skip
            with pytest.raises(demo["DemoFailed"]) as failed:
                demo["wait_until_up"]("server", server, log, f"http://127.0.0.1:{port}/v1/sys/health")
        finally:
            processes.stop_all()

    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith("the server exited with status") and "address already in use" in message
