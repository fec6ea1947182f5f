"""`make demo` runs end to end against a real dev server and exits 0."""

import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).parents[2] / "examples" / "demo.py"


def test_the_demo_runs_every_step_and_exits_zero():
    result = subprocess.run([sys.executable, str(DEMO)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every step behaved as shown" in result.stdout
    assert "POST /v1/agent-registry/register -> 400" in result.stdout  # the refused second registration
