"""`vaultguard terraform-import`: Terraform `import {}` blocks for the agent registrations and OAuth resource
server profiles that already exist in one namespace.

The file holds import blocks only; `terraform plan -generate-config-out=FILE` then writes the resource blocks
from what the provider imports. Reruns against the same server write the same file: blocks are sorted and a
label depends only on the set of names it is chosen among.

The server is reached with the provider's own client and settings resolution (`VAULT_ADDR`, `VAULT_TOKEN` or
`~/.vault-token`, `VAULT_NAMESPACE`, `VAULT_CACERT`, `VAULT_SKIP_VERIFY`), so what this lists is what the
provider would see with the same environment.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from vaultguard.provider.client import (
    ApiError,
    ClientSettings,
    PermissionDenied,
    VaultClient,
    path_segment,
)
from vaultguard.provider.terraform import hcl_string

REGISTRATION_TYPE = "vault_agent_registration"
PROFILE_TYPE = "vault_oauth_resource_server_config_profile"
REGISTRATIONS_PATH = "agent-registry/registration/id"
PROFILES_PATH = "sys/config/oauth-resource-server"
# Order of the blocks in the file: issuers first, then the agents.
TYPE_ORDER = (PROFILE_TYPE, REGISTRATION_TYPE)
IMPORT_NAMESPACE_ENV = "TERRAFORM_VAULT_NAMESPACE_IMPORT"

Progress = Callable[[str], None]


class BulkImportError(Exception):
    """Why the import file could not be written, in one line for the user."""


@dataclass(frozen=True)
class ImportTarget:
    """One existing object: its resource type, the name its label comes from, and its import ID."""

    resource_type: str
    name: str
    import_id: str


@dataclass(frozen=True)
class Listing:
    """What was found in a namespace (None: the root namespace)."""

    namespace: str | None
    targets: tuple[ImportTarget, ...]

    def count(self, resource_type: str) -> int:
        return sum(1 for t in self.targets if t.resource_type == resource_type)


# ---- labels -------------------------------------------------------------------------------------------


def terraform_label(name: str) -> str:
    """A Terraform resource name made from `name`: lower-case ASCII letters, digits and underscores,
    not starting with a digit ("Deploy Agent/eu" → "deploy_agent_eu", "9lives" → "_9lives")."""
    # Accents decompose into a letter plus a mark, so "café" keeps its "e".
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    label = re.sub(r"[^a-z0-9_]+", "_", ascii_name.lower()).strip("_")
    if not label:
        return "unnamed"
    return "_" + label if label[0].isdigit() else label


def assign_labels(targets: Iterable[ImportTarget]) -> dict[ImportTarget, str]:
    """A unique label per target within its resource type.

    Targets whose names give the same label are ordered by name (a name already equal to the label first)
    and then import ID; the first keeps the label, the others get `_2`, `_3`, ... skipping any label that
    another name gives naturally. The result depends only on the targets, never on the server's order.
    """
    labels: dict[ImportTarget, str] = {}
    by_type: dict[str, list[ImportTarget]] = {}
    for target in set(targets):
        by_type.setdefault(target.resource_type, []).append(target)
    for group in by_type.values():
        by_label: dict[str, list[ImportTarget]] = {}
        for target in group:
            by_label.setdefault(terraform_label(target.name), []).append(target)
        taken = set(by_label)
        for base in sorted(by_label):
            same = sorted(by_label[base], key=lambda t: (t.name != base, t.name, t.import_id))  # noqa: B023
            labels[same[0]] = base
            suffix = 2
            for target in same[1:]:
                while f"{base}_{suffix}" in taken:
                    suffix += 1
                labels[target] = f"{base}_{suffix}"
                taken.add(labels[target])
    return labels


# ---- rendering ----------------------------------------------------------------------------------------


def terraform_steps(namespace: str | None) -> list[str]:
    """The commands that generate the configuration and import; for a non-root namespace with the provider's
    import namespace variable, which both need (apply plans the imports again)."""
    prefix = f"{IMPORT_NAMESPACE_ENV}={namespace} " if namespace else ""
    return [f"{prefix}terraform plan -generate-config-out=generated.tf", f"{prefix}terraform apply"]


def namespace_hint(namespace: str | None) -> str:
    """The next command to run after writing the file."""
    return terraform_steps(namespace)[0]


def render(listing: Listing) -> str:
    """The import file: a header saying where the objects are and how to plan them, then one block per
    object, sorted by resource type and label."""
    where = f'namespace "{listing.namespace}"' if listing.namespace else "the root namespace"
    lines = [
        "# Written by `vaultguard terraform-import`: the agent registrations and OAuth resource server profiles",
        f"# of {where}. Generate their configuration, then import them, with",
        *(f"#   {step}" for step in terraform_steps(listing.namespace)),
    ]
    if listing.namespace:
        # The provider reads an imported object's namespace from this variable (hashicorp/vault convention);
        # a provider configured in that namespace already looks there.
        lines.append(f"# (provider in the root namespace; with the provider in {where}, leave the variable out).")
    labels = assign_labels(listing.targets)
    ordered = sorted(labels.items(), key=lambda item: (TYPE_ORDER.index(item[0].resource_type), item[1]))
    for target, label in ordered:
        # An id says nothing to a reader: the name it stands for follows as a comment (escaped, one line).
        named = f"  # {hcl_string(target.name)}" if target.name != target.import_id else ""
        lines += [
            "",
            "import {",
            f"  to = {target.resource_type}.{label}",
            f"  id = {hcl_string(target.import_id)}{named}",
            "}",
        ]
    return "\n".join(lines) + "\n"


# ---- listing ------------------------------------------------------------------------------------------


def list_targets(client: VaultClient, progress: Progress = lambda _: None) -> Listing:
    """Every registration (imported by id, labelled by display name) and profile (by name) in the client's
    namespace. Raises BulkImportError with a one-line reason."""
    try:
        client.ensure_token()
    except PermissionDenied:
        raise BulkImportError(
            f"the server at {client.address} refused the token (HTTP 403 on auth/token/lookup-self): "
            "check --token or VAULT_TOKEN"
        ) from None
    except ApiError as exc:
        raise BulkImportError(_one_line(exc)) from None
    namespace = client.namespace
    targets: list[ImportTarget] = []
    try:
        registrations = client.list_with_info(REGISTRATIONS_PATH)
        targets += [
            ImportTarget(REGISTRATION_TYPE, str(info.get("display_name") or reg_id), reg_id)
            for reg_id, info in registrations.items()
        ]
        progress(f"listed {len(registrations)} registrations")
        profiles = client.list(PROFILES_PATH)
        targets += [ImportTarget(PROFILE_TYPE, name, name) for name in profiles]
        progress(f"listed {len(registrations)} registrations, {len(profiles)} profiles")
    except PermissionDenied as exc:
        raise BulkImportError(_refused_in_namespace(client, exc)) from None
    except ApiError as exc:
        raise BulkImportError(_one_line(exc)) from None
    return Listing(namespace, tuple(targets))


def _refused_in_namespace(client: VaultClient, exc: ApiError) -> str:
    """The token is valid (lookup-self passed), so a 403 here is a missing namespace or missing rights:
    the service answers both alike, so ask the parent namespace whether the namespace exists."""
    what = f"permission denied listing {exc.path} in {_where(client.namespace)}"
    if not client.namespace:
        return what
    parent, _, child = client.namespace.rpartition("/")
    probe = VaultClient(replace(client.settings, namespace=parent or None, set_namespace_from_token=False))
    try:
        probe.ensure_token()
        exists = probe.read(f"sys/namespaces/{path_segment(child)}") is not None
    except ApiError:
        return what + " (the namespace may not exist)"
    finally:
        probe.close()
    return what if exists else f"namespace {client.namespace} does not exist on {client.address}"


def _where(namespace: str | None) -> str:
    return f"namespace {namespace}" if namespace else "the root namespace"


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


# ---- the command --------------------------------------------------------------------------------------


def client_settings(
    *,
    address: str | None,
    token: str | None,
    namespace: str | None,
    ca_cert: str | None = None,
    skip_tls_verify: bool = False,
    environ: Mapping[str, str] | None = None,
) -> ClientSettings:
    """Settings as the provider resolves them: the options given, else its environment variables."""
    from vaultguard.provider.framework import HttpUrl
    from vaultguard.provider.provider import ConfigError, VaultProvider

    config = {
        "address": address,
        "token": token,
        "namespace": namespace,
        "ca_cert_file": ca_cert,
        # Unset, not false, so VAULT_SKIP_VERIFY still applies without the flag.
        "skip_tls_verify": True if skip_tls_verify else None,
        "skip_child_token": True,  # listing needs no short-lived child token
    }
    try:
        settings = VaultProvider(environ).settings(config, require_credentials=False)
    except ConfigError as exc:
        raise BulkImportError(exc.detail) from None
    if not settings.address:
        raise BulkImportError("no server address: give --address or set VAULT_ADDR")
    for _, message in HttpUrl().errors(settings.address):
        raise BulkImportError(f"--address {message}")
    if not settings.token:
        raise BulkImportError("no token: give --token, set VAULT_TOKEN or write it to ~/.vault-token")
    return settings


def refuse_existing(output: Path, force: bool) -> None:
    """Fail early, before any request, when `output` exists and may not be replaced."""
    if output.exists() and not force:
        raise BulkImportError(f"{output} already exists: use --force to overwrite it")
    if not output.parent.is_dir():
        raise BulkImportError(f"cannot write {output}: no directory {output.parent}")


def write_import_file(output: Path, text: str, force: bool) -> None:
    """Write `text`; without `force`, never replace a file (even one that appeared since the check)."""
    try:
        with open(output, "w" if force else "x", encoding="utf-8") as file:
            file.write(text)
    except FileExistsError:
        raise BulkImportError(f"{output} already exists: use --force to overwrite it") from None
    except OSError as exc:
        raise BulkImportError(f"cannot write {output}: {exc.strerror or exc}") from None


def terraform_import(
    settings: ClientSettings, output: Path, *, force: bool = False, progress: Progress = lambda _: None
) -> Listing:
    """List the namespace and write the import file; returns what was listed."""
    refuse_existing(output, force)
    client = VaultClient(settings)
    try:
        listing = list_targets(client, progress)
    finally:
        client.close()
    write_import_file(output, render(listing), force)
    return listing


__all__ = [
    "BulkImportError",
    "ImportTarget",
    "Listing",
    "assign_labels",
    "client_settings",
    "render",
    "terraform_import",
    "terraform_label",
]
