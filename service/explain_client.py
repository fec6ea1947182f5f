"""The client side of `vaultguard explain`: ask a server's explain API, print the report, exit with its verdict.

Exit status: 0 when the request would be allowed, 1 when denied, 2 when the question could not be asked
(usage, connection, permission or input errors), always with a one-line message and never a traceback.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import click

EXPLAIN_ROUTE = "/v1/sys/authorize/explain"
EXIT_ALLOWED, EXIT_DENIED, EXIT_ERROR = 0, 1, 2


class QuestionError(click.ClickException):
    """The question could not be asked; shown as one `Error: ...` line, exit status 2."""

    exit_code = EXIT_ERROR


class ExplainCommand(click.Command):
    """Usage errors as one line (`Error: ...`, exit 2) instead of click's usage block."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise QuestionError(f"{exc.format_message()} (see --help)") from None


def parse_params(values: Sequence[str]) -> dict[str, str]:
    """`--param k=v` options as a dict; a value may itself contain "="."""
    params: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name:
            raise QuestionError(f'--param "{value}": expected NAME=VALUE')
        params[name] = text
    return params


def read_jwt(jwt: str | None, jwt_file: str | None) -> str:
    """The agent's token from --jwt or --jwt-file ("-" reads standard input); exactly one of them."""
    if bool(jwt) == bool(jwt_file):
        raise QuestionError("give exactly one of --jwt TOKEN or --jwt-file FILE")
    if jwt:
        return jwt.strip()
    try:
        text = sys.stdin.read() if jwt_file == "-" else Path(str(jwt_file)).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionError(f"--jwt-file {jwt_file}: {getattr(exc, 'strerror', None) or exc}") from None
    if not text.strip():
        raise QuestionError(f"--jwt-file {jwt_file}: the file is empty")
    return text.strip()


def ask(
    address: str, token: str, namespace: str, body: dict, ca_cert: str | None, timeout: float = 30
) -> tuple[dict, list[str]]:
    """POST the question; returns (data, warnings) or raises QuestionError with the server's message."""
    import requests

    url = address.rstrip("/") + EXPLAIN_ROUTE
    headers = {"X-Vault-Token": token, "X-Vault-Request": "true"}
    if namespace:
        headers["X-Vault-Namespace"] = namespace
    try:
        resp = requests.post(url, json=body, headers=headers, timeout=timeout, verify=ca_cert or True)
    except requests.RequestException as exc:
        raise QuestionError(f"cannot reach {address}: {_why(exc)}") from None
    except OSError as exc:  # requests checks the CA bundle path only when it sends
        raise QuestionError(f"--ca-cert {ca_cert}: {exc}") from None
    try:
        payload = resp.json()
    except ValueError:
        payload = None
    if resp.status_code == 403:
        raise QuestionError(
            "permission denied: explain needs a token with sudo and update on sys/authorize/explain (or root) "
            "in the namespace asked about"
        )
    if resp.status_code != 200 or not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        errors = payload.get("errors") if isinstance(payload, dict) else None
        message = "; ".join(str(e) for e in errors) if isinstance(errors, list) and errors else resp.reason
        raise QuestionError(f"{url} answered {resp.status_code}: {message}")
    return payload["data"], list(payload.get("warnings") or [])


def _why(exc: Exception) -> str:
    """The useful part of a requests/urllib3 error ("Connection refused"), not its nested repr."""
    import requests

    if isinstance(exc, requests.Timeout):
        return "timed out"
    text = str(exc)
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text) or re.search(r"\[SSL[^\]]*\] ([^'\")\]]+)", text)
    if found:
        return found.group(1).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


def run(
    *,
    address: str,
    token: str,
    namespace: str,
    jwt: str | None,
    jwt_file: str | None,
    operation: str,
    path: str,
    params: Sequence[str],
    as_json: bool,
    ca_cert: str | None,
) -> int:
    """Ask and print; returns the exit status (0 allowed, 1 denied). Errors raise QuestionError."""
    body: dict = {"token": read_jwt(jwt, jwt_file), "operation": operation, "path": path}
    parameters = parse_params(params)
    if parameters:
        body["parameters"] = parameters
    data, warnings = ask(address, token, namespace, body, ca_cert)
    for warning in warnings:
        click.echo(f"Warning: {warning}", err=True)
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=False))
    else:
        from .authz.explain import render_text

        click.echo(render_text(data), nl=False)
    return EXIT_ALLOWED if data.get("allowed") is True else EXIT_DENIED
