"""The `vaultguard` command: server, provider installation, bundled Terraform."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .config import ConfigError, Settings, data_dir, load_config_file


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vaultguard")
def main() -> None:
    """vaultguard: per-request authorization for AI agents, declared in Terraform."""


@main.command()
@click.option("--dev", is_flag=True, help="Development mode: SQLite under the data dir, root token printed.")
@click.option("--dev-root-token", default="", help="Root token to use in dev mode (default: generated).")
@click.option("--listen", default=None, help="HOST:PORT to listen on (default 127.0.0.1:8200).")
@click.option("--storage", "storage_url", default=None, help="Storage URL: sqlite:///PATH or postgresql://...")
@click.option("--workers", type=int, default=None, help="Number of worker processes.")
@click.option("--config", "config_file", default=None, help="HCL config file (production mode).")
def server(
    dev: bool,
    dev_root_token: str,
    listen: str | None,
    storage_url: str | None,
    workers: int | None,
    config_file: str | None,
) -> None:
    """Run the authorization service."""
    if dev == bool(config_file):
        _fail("give exactly one of --dev or --config FILE")
    try:
        settings = load_config_file(config_file) if config_file else Settings(dev=True)
        if dev:
            settings.storage_url = f"sqlite:///{data_dir() / 'dev.db'}"
            settings.dev_root_token = dev_root_token
        if listen:
            settings.listen = listen
        if storage_url:
            settings.storage_url = storage_url
        if workers:
            settings.workers = workers
        settings.check()
    except ConfigError as exc:
        _fail(str(exc))
    from .server import run

    try:
        run(settings)
    except ConfigError as exc:
        _fail(str(exc))


@main.group()
def provider() -> None:
    """The Terraform provider."""


@provider.command("rc")
@click.option("--output", required=True, type=click.Path(dir_okay=False), help="CLI config file to write.")
def provider_rc(output: str) -> None:
    """Install the provider into a filesystem mirror and write a Terraform CLI config that uses it."""
    from ..provider.install import install_mirror

    config = Path(output).resolve()
    mirror = install_mirror(config)
    click.echo(f"# provider installed in {mirror}", err=True)
    click.echo(f"export TF_CLI_CONFIG_FILE={config}")


@main.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def terraform(args: tuple[str, ...]) -> None:
    """Run the bundled Terraform CLI (or $TERRAFORM) with ARGS."""
    from ..provider.terraform import run_terraform

    sys.exit(run_terraform(list(args)))


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()

