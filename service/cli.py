"""The `vaultguard` command: server, provider installation, bundled Terraform."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from .config import ConfigError, Settings, audit_device_for_flag, data_dir, load_config_file
from .explain_client import ExplainCommand
from .storage.sealing import DEV_KEY_FILE, ENV_KEYRING

# Exit status when Terraform could not be started at all (the shell's "command not found").
TERRAFORM_NOT_RUN = 127


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
@click.option("--grpc-listen", default=None, metavar="HOST:PORT", help="Also serve the gRPC decision API here.")
@click.option(
    "--audit-log", default=None, metavar="PATH", help='Audit to this file (JSON lines); "-" for stdout.'
)
def server(
    dev: bool,
    dev_root_token: str,
    listen: str | None,
    storage_url: str | None,
    workers: int | None,
    config_file: str | None,
    grpc_listen: str | None,
    audit_log: str | None,
) -> None:
    """Run the authorization service."""
    if dev == bool(config_file):
        _fail("give exactly one of --dev or --config FILE")
    try:
        settings = load_config_file(config_file) if config_file else Settings(dev=True)
        if dev:
            settings.storage_url = f"sqlite:///{data_dir() / 'dev.db'}"
            if not os.environ.get(ENV_KEYRING):  # created at start, readable by this user only
                settings.encryption_key_file = str(data_dir() / DEV_KEY_FILE)
            settings.dev_root_token = dev_root_token
        if listen:
            settings.listen = listen
        if storage_url:
            settings.storage_url = storage_url
        if workers:
            settings.workers = workers
        if grpc_listen:
            settings.grpc_listen = grpc_listen
        if audit_log:
            settings.audit_devices.append(audit_device_for_flag(audit_log))
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
    from ..provider.install import install_mirror, lock_command

    config = Path(output).resolve()
    try:
        mirror = install_mirror(config)
    except OSError as exc:
        _fail(f"cannot install the provider: {exc.filename or config}: {exc.strerror or exc}")
    click.echo(f"# provider installed in {mirror}", err=True)
    click.echo("# to record its hash for every platform in a configuration's lock file, run there:", err=True)
    click.echo(f"#   {lock_command(mirror)}", err=True)
    click.echo(f"export TF_CLI_CONFIG_FILE={shlex.quote(str(config))}")


class _PassThrough(click.Command):
    """A command with no options of its own: every argument, `-h` and `--help` included, goes unparsed to
    the program it runs (click would read the `h` of `-chdir=DIR` as its help flag). Its help is
    `vaultguard help NAME`, or its one flag, given alone."""

    own_help_flag = "--vaultguard-help"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args == [self.own_help_flag]:
            click.echo(ctx.get_help(), color=ctx.color)
            ctx.exit()
        ctx.params = {"args": tuple(args)}
        return []

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return ["[TERRAFORM ARGS]..."]


@main.command(cls=_PassThrough, add_help_option=False)
def terraform(args: tuple[str, ...]) -> None:
    """Run the bundled Terraform CLI (or $TERRAFORM) with ARGS.

    \b
    Every argument reaches Terraform unchanged (-chdir=DIR, -help, -h, -version, --, ...), with
    Terraform's standard input and output and its exit code (`plan -detailed-exitcode`: 0, 1 or 2).
    TERRAFORM=/path/to/terraform-or-tofu runs that CLI instead. Exit status 127: no Terraform could be
    started. This help: `vaultguard help terraform` or `vaultguard terraform --vaultguard-help`.
    """
    from ..provider.terraform import TerraformUnavailable, run_terraform

    try:
        code = run_terraform(list(args))
    except TerraformUnavailable as exc:  # e.g. TERRAFORM names a missing file: one line, not a traceback
        # Not 1 or 2: `plan -detailed-exitcode` callers read those as "error" and "changes present".
        _fail(str(exc), code=TERRAFORM_NOT_RUN)
    sys.exit(code)


@main.command("help")
@click.argument("command", nargs=-1)
@click.pass_context
def help_command(ctx: click.Context, command: tuple[str, ...]) -> None:
    """Show the help of vaultguard or of one of its commands (`vaultguard help terraform`)."""
    parent = ctx.find_root()
    current, current_ctx = parent.command, parent
    for name in command:
        found = current.get_command(current_ctx, name) if isinstance(current, click.Group) else None
        if found is None:
            _fail(f"no such command: {' '.join(command)} (`vaultguard help` lists them)")
        current, current_ctx = found, click.Context(found, info_name=name, parent=current_ctx)
    click.echo(current.get_help(current_ctx))


@main.command("terraform-import")
@click.option("--output", required=True, type=click.Path(dir_okay=False), help="File to write the import blocks to.")
@click.option("--force", is_flag=True, help="Overwrite --output if it exists.")
@click.option("--namespace", default=None, help="Namespace to list (default: $VAULT_NAMESPACE, else the token's).")
@click.option("--address", default=None, help="Server URL (default: $VAULT_ADDR).")
@click.option("--token", default=None, help="Token (default: $VAULT_TOKEN, else ~/.vault-token).")
@click.option("--ca-cert", default=None, help="CA bundle for an HTTPS server (default: $VAULT_CACERT).")
@click.option("--skip-tls-verify", is_flag=True, help="Do not verify the server's certificate (insecure).")
def terraform_import(output: str, force: bool, **connection: Any) -> None:
    """Write Terraform import blocks for a namespace's agent registrations and OAuth profiles.

    Then `terraform plan -generate-config-out=generated.tf` writes their configuration.
    """
    from ..provider.bulk_import import BulkImportError, client_settings, namespace_hint
    from ..provider.bulk_import import terraform_import as write_imports

    status = _StatusLine()
    try:
        listing = write_imports(client_settings(**connection), Path(output), force=force, progress=status.show)
    except BulkImportError as exc:
        status.done()
        _fail(str(exc))
    status.done()
    next_step = namespace_hint(listing.namespace)
    click.echo(f"wrote {len(listing.targets)} import blocks to {output}; next: {next_step}", err=True)


class _StatusLine:
    """Progress on stderr: one line rewritten in place on a terminal, one line per update otherwise."""

    def __init__(self) -> None:
        self.live = sys.stderr.isatty()
        self.shown = False

    def show(self, message: str) -> None:
        click.echo(f"\r\033[K{message}" if self.live else message, err=True, nl=not self.live)
        self.shown = True

    def done(self) -> None:
        if self.live and self.shown:
            click.echo("", err=True)
        self.shown = False


@main.command(cls=ExplainCommand)
@click.option("--address", envvar="VAULT_ADDR", required=True, help="Server URL (default: $VAULT_ADDR).")
@click.option("--token", envvar="VAULT_TOKEN", required=True, help="Admin token (default: $VAULT_TOKEN).")
@click.option("--namespace", envvar="VAULT_NAMESPACE", default="", help="Namespace of the agent's request.")
@click.option("--jwt", default=None, help="The agent's JWT.")
@click.option("--jwt-file", default=None, help='File holding the JWT ("-": standard input).')
@click.option("--operation", required=True, help="read, list, create, update, patch or delete.")
@click.option("--path", required=True, help="Vault path, relative to the namespace (no /v1/).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="A request parameter (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the explain API's JSON instead of the report.")
@click.option("--ca-cert", envvar="VAULT_CACERT", default=None, help="CA bundle for an HTTPS server.")
def explain(**options: Any) -> None:
    """Explain, step by step, how the service decides an agent's request (operators only).

    Exit status: 0 allowed, 1 denied, 2 when the question could not be asked.
    """
    from .explain_client import run

    sys.exit(run(**options))


@main.command("access-review")
@click.argument("plan_json", type=click.Path(dir_okay=False))
@click.option("--rules", "rules_file", default=None, type=click.Path(dir_okay=False), help="Rules file (HCL).")
@click.option("--format", "output_format", type=click.Choice(["text", "markdown", "json"]), default="text")
@click.option("--fail-on-gain", is_flag=True, help="Exit 1 when any agent gains access.")
def access_review(plan_json: str, rules_file: str | None, output_format: str, fail_on_gain: bool) -> None:
    """What a plan lets each agent do: PLAN_JSON is `terraform show -json PLANFILE`.

    Policies the plan does not manage are read from $VAULT_ADDR with $VAULT_TOKEN when both are set.
    Exit status: 0 no rule broken, 1 a rule broken (or access gained, with --fail-on-gain), 2 bad input.
    """
    from ..provider import access_review as ar

    try:
        plan = ar.load_plan(Path(plan_json))
        rules = ar.load_rules(Path(rules_file)) if rules_file else []
        report = ar.review(plan, rules, ar.server_reader_from_environment())
    except ar.ReviewInputError as exc:
        _fail(str(exc))
    click.echo(ar.RENDERERS[output_format](report), nl=False)
    sys.exit(ar.exit_status(report, fail_on_gain=fail_on_gain))


@main.command("dev-issuer")
@click.option("--listen", default="127.0.0.1:8400", show_default=True, help="HOST:PORT (port 0: any free port).")
@click.option("--issuer", default=None, help="Issuer (`iss`) to put in tokens (default: the listen URL).")
@click.option("--key-dir", default=None, type=click.Path(file_okay=False), help="Load and save keys here.")
@click.option("--keep", default=1, show_default=True, type=int, help="Old key generations kept after a rotation.")
@click.option("--audience", default="vaultguard", show_default=True, help="Default `aud` of issued tokens.")
@click.option("--ttl", default="5m", show_default=True, help="Default token lifetime (at most 24h).")
def dev_issuer(listen: str, issuer: str | None, key_dir: str | None, keep: int, audience: str, ttl: str) -> None:
    """DEVELOPMENT ONLY: a local OAuth issuer (discovery, JWKS, client_credentials token endpoint).

    It authenticates nobody: whoever reaches it gets any token they ask for. POST /rotate publishes new keys.
    """
    from .devissuer import DevIssuerError, serve

    try:
        serve(listen, issuer=issuer, key_dir=key_dir, keep=keep, audience=audience, ttl=ttl)
    except (DevIssuerError, OSError) as exc:
        _fail(str(exc))


@main.group()
def token() -> None:
    """Access tokens for development."""


@token.command("mint")
@click.option("--key", "key_file", required=True, help="Private key PEM file (RSA, EC P-256 or Ed25519).")
@click.option("--issuer", required=True, help="The `iss` claim (the profile's issuer_id).")
@click.option("--kid", required=True, help="Key id for the header (the profile's key_id or JWKS kid).")
@click.option("--sub", "subject", required=True, help="The `sub` claim (the alias's external id).")
@click.option("--actor", default=None, help="Actor: `act.sub` (delegated requests).")
@click.option("--aud", "audience", default="vaultguard", show_default=True, help="The `aud` claim.")
@click.option("--client-id", default=None, help="The `client_id` claim (default: --sub).")
@click.option("--authorization-details", default=None, metavar="JSON|@FILE", help="RAR array (RFC 9396).")
@click.option("--ttl", default="5m", show_default=True, help="Lifetime: seconds or 30s/5m/1h (at most 24h).")
@click.option("--alg", type=click.Choice(["RS256", "ES256", "EdDSA"]), default=None, help="Default: from the key.")
def token_mint(key_file: str, subject: str, audience: str, **options: Any) -> None:
    """DEVELOPMENT ONLY: print an RFC 9068 access token signed offline with a local key."""
    from .devissuer import DevIssuerError, mint

    try:
        click.echo(mint(key_file=key_file, subject=subject, audience=audience, **options))
    except DevIssuerError as exc:
        _fail(str(exc))


@main.command("rotate-encryption-key")
@click.option("--config", "config_file", default=None, help="The server's HCL config file: its storage and keyring.")
@click.option("--storage", "storage_url", default=None, help="Storage URL, instead of the config file's.")
@click.option(
    "--encryption-key-file",
    default=None,
    help="The keyring, newest key first (default: the config file's, else VAULTGUARD_ENCRYPTION_KEY).",
)
def rotate_encryption_key(config_file: str | None, storage_url: str | None, encryption_key_file: str | None) -> None:
    """Rewrap the data key under the newest key of the keyring, while the servers keep running.

    Put the new key on the keyring's first line and the old one below it, run this once, then remove the
    old key from every server's keyring (docs/security.md, "Rotating the key")."""
    from .storage.sealing import SealError, load_keyring, rotate_data_key_wrapping
    from .storage.store import StorageError, Store

    try:
        settings = load_config_file(config_file) if config_file else Settings()
    except ConfigError as exc:
        _fail(str(exc))
    url = storage_url or (settings.storage_url if config_file else "")
    if not url:
        _fail("give --config FILE or --storage URL: the database whose data key to rewrap")
    try:
        keyring = load_keyring(encryption_key_file or settings.encryption_key_file)
        store = Store(url)
        try:
            was, now = rotate_data_key_wrapping(store, keyring)
        finally:
            store.dispose()
    except SealError as exc:
        _fail(str(exc), 1)
    except StorageError as exc:
        _fail(f"storage {url}: {exc}", 1)
    if was == now:
        click.echo(f"the data key is already wrapped by the newest key (key id {now}); nothing to do")
    else:
        click.echo(f"the data key is now wrapped by key id {now} (was {was}); the old key can leave the keyrings")


def _fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()

