"""Maps the repository's top-level folders onto the installed `vaultguard.*` namespace.

The layout keeps `service/`, `provider/`, `rules/` and `proto/` at the top level (DECISIONS.md#d53) while every
installed import name lives under `vaultguard.`; the package list is computed so a new sub-package needs no edit
here.

The gRPC stubs are generated at build time (never committed): `proto/vaultguard/<pkg>/<file>.proto` (protobuf
package `vaultguard.<pkg>`) becomes the Python modules `vaultguard.proto.<pkg>.<file>_pb2` and `..._pb2_grpc`.
"""

import re
import tempfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOTS = {
    "service": "vaultguard.service",
    "provider": "vaultguard.provider",
    "rules": "vaultguard.rules",  # the rules both the service and the provider apply
    "proto": "vaultguard.proto",
}
PROTO_ROOT = Path("proto")
# protoc names a module after the .proto's path (`vaultguard.decision.v1`); installed, it lives under
# `vaultguard.proto.`, so imports between generated modules are rewritten to match.
_GENERATED_IMPORT = re.compile(r"^from vaultguard\.(\S+) import (\w+_pb2)\b", re.MULTILINE)


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


def generate_stubs(target: Path) -> list[Path]:
    """Run protoc (grpcio-tools) on every .proto under proto/vaultguard/ and write the stubs below `target`,
    the directory of the `vaultguard.proto` package. Returns the files written."""
    try:
        from grpc_tools import protoc
    except ImportError:
        raise SystemExit(
            "building vaultguard needs grpcio-tools to generate the gRPC stubs (it is a build requirement in "
            "pyproject.toml; with --no-build-isolation install it first)"
        ) from None
    import importlib.resources

    well_known = str(importlib.resources.files("grpc_tools") / "_proto")
    protos = sorted((PROTO_ROOT / "vaultguard").rglob("*.proto"))
    if not protos:  # e.g. an sdist built without MANIFEST.in: fail rather than install without stubs
        raise SystemExit(f"no .proto files under {PROTO_ROOT / 'vaultguard'}")
    written: list[Path] = []
    for proto in protos:
        rel = proto.relative_to(PROTO_ROOT)
        with tempfile.TemporaryDirectory() as out:
            args = [
                "grpc_tools.protoc",
                f"--proto_path={PROTO_ROOT}",
                f"--proto_path={well_known}",
                f"--python_out={out}",
                f"--pyi_out={out}",
                f"--grpc_python_out={out}",
                str(rel),
            ]
            if protoc.main(args) != 0:
                raise SystemExit(f"protoc failed on {proto}")
            destination = target.joinpath(*rel.parent.parts[1:])
            destination.mkdir(parents=True, exist_ok=True)
            for generated in sorted(Path(out, rel.parent).iterdir()):
                text = _GENERATED_IMPORT.sub(r"from vaultguard.proto.\1 import \2", generated.read_text())
                path = destination / generated.name
                if not path.exists() or path.read_text() != text:  # unchanged stubs keep their mtime
                    path.write_text(text)
                written.append(path)
    return written


class BuildPyWithStubs(build_py):
    """build_py that also generates the gRPC stubs: into the source tree for an editable install (the
    editable finder maps `vaultguard.proto` to proto/), into the build directory otherwise."""

    def run(self) -> None:
        if self.editable_mode:
            self._stubs = generate_stubs(PROTO_ROOT)
            super().run()
            return
        super().run()
        self._stubs = generate_stubs(Path(self.build_lib, "vaultguard", "proto"))
        if self.compile or self.optimize:
            self.byte_compile([str(p) for p in self._stubs if p.suffix == ".py"])

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if self.editable_mode:
            return outputs
        return outputs + [str(p) for p in getattr(self, "_stubs", [])]


packages, package_dir = _packages()
setup(packages=packages, package_dir=package_dir, cmdclass={"build_py": BuildPyWithStubs})
