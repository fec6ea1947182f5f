"""Maps the repository's top-level folders onto the installed `vaultguard.*` namespace.

The layout keeps `service/`, `provider/` and `proto/` at the top level (DESIGN.md) while every installed
import name lives under `vaultguard.`; the package list is computed so a new sub-package needs no edit here.
"""

from pathlib import Path

from setuptools import setup

ROOTS = {"service": "vaultguard.service", "provider": "vaultguard.provider", "proto": "vaultguard.proto"}


def _packages() -> tuple[list[str], dict[str, str]]:
    packages: list[str] = []
    package_dir: dict[str, str] = {}
    for folder, name in ROOTS.items():
        for init in sorted(Path(folder).rglob("__init__.py")):
            rel = init.parent.relative_to(folder).parts
            dotted = ".".join((name, *rel))
            packages.append(dotted)
            package_dir[dotted] = str(init.parent)
    return packages, package_dir


packages, package_dir = _packages()
setup(packages=packages, package_dir=package_dir)
