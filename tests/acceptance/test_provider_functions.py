"""provider::vault::policy_allows / policy_reaches / policy_capabilities, through the real Terraform CLI:
in outputs, in a `check` block, in a variable validation and in `terraform test` assertions, on the bundled
Terraform and on the older one on PATH (provider functions need Terraform 1.8 or later)."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from tf_steps import apply, ok

pytestmark = pytest.mark.terraform

OLDER = shutil.which("terraform")
RELEASES = ["bundled", pytest.param("older", marks=pytest.mark.skipif(OLDER is None, reason="no terraform on PATH"))]

CEILING = r"""
locals {
  ceiling = <<-EOT
    path "secret/*" {
      capabilities = ["create", "update", "read"]
    }
    path "secret/data/prod/*" {
      capabilities = ["deny"]
    }
    path "secret/data/+/db" {
      capabilities = ["read"]
    }
  EOT
}

variable "agent_write_path" {
  type    = string
  default = "secret/data/dev/app"

  validation {
    condition     = provider::vault::policy_allows([local.ceiling], "update", var.agent_write_path)
    error_message = "The ceiling does not let agents write there."
  }
}

resource "terraform_data" "later" {
  input = "x"
}

output "writes_dev" {
  value = provider::vault::policy_allows([local.ceiling], "update", "secret/data/dev/x")
}
output "writes_prod" {
  value = provider::vault::policy_allows([local.ceiling], "update", "secret/data/prod/x")
}
output "reaches_prod_writes" {
  value = provider::vault::policy_reaches([local.ceiling], "update", "secret/data/prod/*")
}
output "reaches_db_reads" {
  value = provider::vault::policy_reaches([local.ceiling], "read", "secret/data/+/db")
}
output "capabilities_on_prod_db" {
  value = provider::vault::policy_capabilities([local.ceiling], "secret/data/prod/db")
}
output "unknown_until_apply" {
  value = provider::vault::policy_allows(
    ["path \"x/${terraform_data.later.id}\" { capabilities = [\"read\"] }"], "read", "x/y"
  )
}
"""

CHECK = """\
check "agents_never_write_prod" {
  assert {
    condition     = !provider::vault::policy_reaches([local.ceiling, local.extra], "update", "secret/data/prod/*")
    error_message = "An agent ceiling lets agents write under secret/data/prod/."
  }
}

locals {
  extra = "path \\"secret/data/prod/app\\" {\\n  capabilities = [\\"update\\"]\\n}\\n"
}
"""

TEST_FILE = """\
run "ceiling_is_safe" {
  command = plan

  assert {
    condition     = !provider::vault::policy_reaches([local.ceiling], "delete", "secret/*")
    error_message = "agents must never delete secrets"
  }

  assert {
    condition     = provider::vault::policy_allows([local.ceiling], "read", "secret/data/app/db")
    error_message = "agents read their database credentials"
  }
}

run "prod_stays_closed" {
  command = apply

  assert {
    condition     = output.writes_prod == false
    error_message = "prod must stay closed"
  }
}
"""


@pytest.fixture(params=RELEASES)
def release(request, terraform, service):
    if request.param == "older":
        terraform.env["TERRAFORM"] = OLDER
    terraform.configure_provider(address=service.url, token=service.root_token, skip_child_token=True)
    return terraform


def test_the_functions_answer_in_outputs_checks_validations_and_terraform_test(release):
    terraform = release
    terraform.write("main.tf", CEILING)
    ok(terraform("init"))

    planned = ok(terraform("plan"))
    assert re.search(r"unknown_until_apply +\= \(known after apply\)", planned.stdout), planned.stdout
    apply(terraform)
    outputs = {k: v["value"] for k, v in json.loads(ok(terraform("output", "-json")).stdout).items()}
    assert outputs == {
        "writes_dev": True,
        "writes_prod": False,  # the deny carve-out
        "reaches_prod_writes": False,  # ... holds for every path under prod
        "reaches_db_reads": True,
        "capabilities_on_prod_db": ["deny"],  # prod/* is more specific than +/db
        "unknown_until_apply": False,
    }

    # a variable validation refuses a path the ceiling does not allow
    refused = terraform("plan", "-var", "agent_write_path=secret/data/prod/app")
    assert refused.rc == 1 and "The ceiling does not let agents write there." in refused.stderr

    # a check block warns when another policy opens a path under prod (an exact path beats the deny glob)
    terraform.write("check.tf", CHECK)
    warned = ok(terraform("plan"))
    text = " ".join((warned.stdout + warned.stderr).split())
    assert "An agent ceiling lets agents write under secret/data/prod/." in text

    # terraform test: plan and apply runs with assertions
    terraform.workdir.joinpath("check.tf").unlink()
    terraform.write("tests/ceiling.tftest.hcl", TEST_FILE)
    tested = terraform("test")
    assert tested.rc == 0, tested.stdout + tested.stderr
    assert "2 passed, 0 failed" in tested.stdout


def test_a_bad_argument_is_an_error_naming_it(terraform, service):
    terraform.configure_provider(address=service.url, token=service.root_token, skip_child_token=True)
    terraform.write(
        "main.tf", 'output "x" {\n  value = provider::vault::policy_allows(["path \\"a\\" {}"], "reed", "a")\n}\n'
    )
    ok(terraform("init"))

    result = terraform("plan")

    assert result.rc == 1
    text = " ".join(result.stderr.split())
    assert "policy_allows: capability must be one of create, read, update" in text and "got 'reed'" in text
