"""Every Terraform example under examples/terraform/ applies and destroys cleanly against a real dev server.

The examples are the documentation (rendered into docs/ by `python -m vaultguard.provider.docs`), so they are
used as they are: each one is copied into a fresh directory and combined only with what a reader would add
around it: the provider settings for a fresh namespace, the variables it asks for, and the objects it reads
but does not manage (created over HTTP beforehand). One `terraform init` is shared by all of them.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

# The acceptance fixtures: a real `vaultguard server --dev`, a fresh namespace per test, and the Terraform
# CLI in the test's own directory with the provider installed in a filesystem mirror.
from acceptance.conftest import (  # noqa: F401
    PROVIDER_REQUIREMENT,
    Terraform,
    attached_provider,
    namespace,
    service,
    terraform,
    terraform_cli_config,
)
from acceptance.tf_steps import apply, ok

import vgtest

pytestmark = pytest.mark.terraform

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "terraform"


def example_dirs() -> list[str]:
    """Every example directory, relative to examples/terraform/ (found, so a new example is covered too)."""
    files = [*EXAMPLES.glob("resources/*/resource.tf"), *EXAMPLES.glob("data-sources/*/data-source.tf")]
    dirs = [f.parent for f in files] + [EXAMPLES / "provider", EXAMPLES / "quickstart"]
    return sorted(str(d.relative_to(EXAMPLES)) for d in dirs)


# --- what each example needs around it ------------------------------------------------------------------------------
# Each takes the root client of the example's namespace and the example's Terraform runner (its directory holds
# the example's files); it returns environment variables for Terraform.

Setup = Callable[[vgtest.Client, Terraform], dict[str, str]]


def provider_settings(api: vgtest.Client, tf: Terraform) -> dict[str, str]:
    """The usual case: a provider.tf pointing at the server and the example's namespace."""
    tf.configure_provider(address=api.url, token=api.token, namespace=api.namespace)
    return {}


def existing_registration(api: vgtest.Client, tf: Terraform) -> dict[str, str]:
    entity = api.post("identity/entity", json={"name": "deploy-agent"})
    assert entity.status_code == 200, entity.text
    body = {"display_name": "deploy-agent", "entity_id": entity.json()["data"]["id"]}
    resp = api.post("agent-registry/register", json=body)
    assert resp.status_code == 200, resp.text
    return provider_settings(api, tf)


def existing_secret(api: vgtest.Client, tf: Terraform) -> dict[str, str]:
    resp = api.post("secret/data/payments/db", json={"data": {"username": "payments", "password": "s3cret"}})
    assert resp.status_code == 200, resp.text
    return provider_settings(api, tf)


def existing_profile(api: vgtest.Client, tf: Terraform) -> dict[str, str]:
    body = {
        "issuer_id": "https://example-tenant.us.auth0.com/",
        "jwks_uri": "https://example-tenant.us.auth0.com/.well-known/jwks.json",
    }
    resp = api.post("sys/config/oauth-resource-server/auth0", json=body)
    assert resp.status_code in (200, 204), resp.text
    return provider_settings(api, tf)


def existing_group(api: vgtest.Client, tf: Terraform) -> dict[str, str]:
    resp = api.post("identity/group", json={"name": "engineering", "policies": ["engineering-common"]})
    assert resp.status_code == 200, resp.text
    return provider_settings(api, tf)


PROVIDER_OVERRIDE = """\
provider "vault" {{
  address   = "{url}"
  token     = "{token}"
  namespace = "{namespace}/team-a"
}}

provider "vault" {{
  alias     = "team_b"
  address   = "{url}"
  token     = "{token}"
  namespace = "{namespace}/team-b"
}}
"""

# One policy through each provider configuration, so that applying the example configures and uses both.
USES_BOTH_PROVIDERS = """\
resource "vault_policy" "team_a" {
  name   = "example-check"
  policy = "path \\"example/*\\" { capabilities = [\\"read\\"] }"
}

resource "vault_policy" "team_b" {
  provider = vault.team_b
  name     = "example-check"
  policy   = "path \\"example/*\\" { capabilities = [\\"read\\"] }"
}
"""


def provider_override(api: vgtest.Client, tf: Terraform) -> dict[str, str]:
    """The provider example names its own address and namespaces: an override file (Terraform's own merge
    of `*_override.tf`) points both configurations at the server, in two child namespaces."""
    for child in ("team-a", "team-b"):
        assert api.post(f"sys/namespaces/{child}").status_code == 200
    tf.write("provider_override.tf", PROVIDER_OVERRIDE.format(url=api.url, token=api.token, namespace=api.namespace))
    tf.write("uses_both_providers.tf", USES_BOTH_PROVIDERS)
    tf.write("terraform.tfvars", 'gateway_key = "gateway-secret"\n')
    return {}


def quickstart_settings(api: vgtest.Client, tf: Terraform) -> dict[str, str]:
    """The quickstart reads the server from VAULT_* (as `make demo` runs it) and asks for its issuer. The
    server fetches the JWKS only when a token needs it, so any issuer URL will do here."""
    issuer = "http://127.0.0.1:8400"
    tf.write("terraform.tfvars", f'issuer   = "{issuer}"\njwks_url = "{issuer}/.well-known/jwks.json"\n')
    return {"VAULT_ADDR": api.url, "VAULT_TOKEN": api.token, "VAULT_NAMESPACE": api.namespace}


SETUP: dict[str, Setup] = {
    "data-sources/vault_agent_registration": existing_registration,
    "data-sources/vault_identity_group": existing_group,
    "data-sources/vault_kv_secret_v2": existing_secret,
    "data-sources/vault_oauth_resource_server_config_profile": existing_profile,
    "provider": provider_override,
    "quickstart": quickstart_settings,
}


# --- the test -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def initialized(tmp_path_factory: pytest.TempPathFactory, terraform_cli_config: Path) -> Path:  # noqa: F811
    """One `terraform init` for every example: they all need the same provider and nothing else."""
    workdir = tmp_path_factory.mktemp("init")
    (workdir / "home").mkdir()
    runner = Terraform(workdir, terraform_cli_config, workdir / "home")
    runner.write("versions.tf", PROVIDER_REQUIREMENT)
    ok(runner("init"))
    return workdir


@pytest.mark.parametrize("example", example_dirs())
def test_the_example_applies_and_destroys_cleanly(example, initialized, terraform, service, namespace):  # noqa: F811
    for source in (EXAMPLES / example).glob("*.tf"):
        shutil.copy(source, terraform.workdir / source.name)
    (terraform.workdir / ".terraform").symlink_to(initialized / ".terraform")
    shutil.copy(initialized / ".terraform.lock.hcl", terraform.lock_file)
    terraform.env.update(SETUP.get(example, provider_settings)(service.client(namespace=namespace), terraform))

    # Apply and destroy only: every Terraform command starts the provider a few times, and the acceptance
    # tests already check, per resource type, that the plan after apply is empty.
    apply(terraform)
    assert in_state(terraform), "apply left nothing in the state"
    ok(terraform("destroy", "-auto-approve"))
    assert in_state(terraform) == [], "destroy left resources in the state"


def in_state(terraform: Terraform) -> list[str]:  # noqa: F811
    """The resources and data sources recorded in the local state file."""
    state = json.loads((terraform.workdir / "terraform.tfstate").read_text())
    return [f"{r['mode']}.{r['type']}.{r['name']}" for r in state["resources"] if r["instances"]]
