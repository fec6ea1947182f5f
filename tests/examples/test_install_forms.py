"""The ways docs/terraform.md and examples/ci/github-actions.yml say to install vaultguard on a CI runner each
work, into a fresh virtual environment at another path, and give the same provider package (so one lock file
serves them all).

The requirement strings are the documented ones, with the example URL, path and version replaced by this
checkout's. pip installs vaultguard itself from each; its dependencies are borrowed from the test's
environment (tests/acceptance/installs.py), so the extras are parsed but nothing is downloaded.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

# The acceptance fixture that builds this checkout's wheel.
from acceptance.conftest import wheels  # noqa: F401
from acceptance.installs import REPOSITORY, Install

from vaultguard.provider.provider import package_version

pytestmark = pytest.mark.terraform

DOCS = REPOSITORY / "docs" / "terraform.md"
WORKFLOW = REPOSITORY / "examples" / "ci" / "github-actions.yml"

# The requirement each documented form passes to pip, quoted as the docs and the workflow show it.
FORMS = {
    "wheel": '"./dist/vaultguard-0.1.0-py3-none-any.whl[terraform]"',
    "pinned": '"vaultguard[terraform]==0.1.0"',
    "git": '"vaultguard[terraform] @ git+https://git.example.com/platform/vaultguard@v0.1.0"',
}


def _head() -> str:
    return subprocess.run(
        ["git", "-C", str(REPOSITORY), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.mark.parametrize("form", sorted(FORMS))
def test_each_documented_install_form_installs_a_working_provider(form, tmp_path, wheels):  # noqa: F811
    documented = FORMS[form]
    assert documented in DOCS.read_text(), f"docs/terraform.md no longer shows {documented}"
    assert documented in WORKFLOW.read_text(), f"examples/ci/github-actions.yml no longer shows {documented}"
    wheel = wheels["current"]
    version = package_version()
    options: tuple[str, ...] = ()
    requirement = documented.strip('"').replace("0.1.0", version)
    if form == "wheel":
        requirement = requirement.replace(f"./dist/vaultguard-{version}-py3-none-any.whl", str(wheel))
    elif form == "pinned":
        options = ("--find-links", str(wheel.parent))  # the team's index
    else:
        requirement = requirement.replace(
            f"git+https://git.example.com/platform/vaultguard@v{version}", f"git+file://{REPOSITORY}@{_head()}"
        )

    install = Install(tmp_path / f"runner {form}" / "venv", requirement, None, *options)

    where = subprocess.run(
        [str(install.python), "-c", "import vaultguard.provider.install as m; print(m.__file__)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert Path(where).is_relative_to(install.path), where  # its own copy, not this checkout
    mirror = install.provider_rc()
    packages = sorted((mirror / "registry.terraform.io/vaultguard/vault").iterdir())
    assert packages and all(p.read_bytes() == packages[0].read_bytes() for p in packages)
    reference = Install(tmp_path / "reference" / "venv", wheel).provider_rc()
    assert [p.read_bytes() for p in packages] == [
        p.read_bytes() for p in sorted((reference / "registry.terraform.io/vaultguard/vault").iterdir())
    ]
