"""The standard acceptance steps (DECISIONS.md#d56), as small functions over the `terraform` fixture.

Each step asserts Terraform's outcome and, on failure, shows what Terraform printed.
"""

from __future__ import annotations

import json
import socket
from typing import Any

# `terraform plan -detailed-exitcode`: 0 no changes, 1 error, 2 changes present.
NO_CHANGES, ERROR, CHANGES = 0, 1, 2


def _shown(result: Any) -> str:
    return f"rc={result.rc}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def ok(result: Any) -> Any:
    """Assert a Terraform command succeeded; return its result."""
    assert result.rc == 0, _shown(result)
    return result


def apply(terraform: Any, *args: str) -> Any:
    return ok(terraform("apply", "-auto-approve", *args))


def plan(terraform: Any, *args: str) -> Any:
    """`terraform plan -detailed-exitcode`; asserts it did not fail."""
    result = terraform("plan", "-detailed-exitcode", *args)
    assert result.rc in (NO_CHANGES, CHANGES), _shown(result)
    return result


def assert_empty_plan(terraform: Any) -> None:
    """Plan (which refreshes first) finds nothing to change."""
    result = plan(terraform)
    assert result.rc == NO_CHANGES, _shown(result)


def assert_no_changes(terraform: Any) -> None:
    """One plan finds nothing to change and no drift: refreshing read back exactly what the state holds.

    No drift means an explicit refresh (`apply -refresh-only`) would save nothing new, so the plan after it
    would be this one; Terraform's text output hides drift that no change needs, its JSON output does not.
    """
    result = terraform("plan", "-json", "-detailed-exitcode")
    messages = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    shown = f"rc={result.rc}\n" + "\n".join(
        m.get("@message", "") + ("\n  " + m["diagnostic"].get("detail", "") if "diagnostic" in m else "")
        for m in messages
    ) + f"\n--- stderr\n{result.stderr}"
    assert result.rc == NO_CHANGES, shown
    drift = [m["@message"] for m in messages if m.get("type") == "resource_drift"]
    assert not drift, f"refresh changed the state: {drift}\n{shown}"


def assert_plans(terraform: Any, *fragments: str, absent: tuple[str, ...] = ()) -> Any:
    """Plan has changes and its text contains every fragment (and none of `absent`)."""
    result = plan(terraform)
    assert result.rc == CHANGES, _shown(result)
    for fragment in fragments:
        assert fragment in result.stdout, f"{fragment!r} not in plan\n{_shown(result)}"
    for fragment in absent:
        assert fragment not in result.stdout, f"{fragment!r} in plan\n{_shown(result)}"
    return result


def fails(result: Any, *fragments: str) -> Any:
    """Assert a Terraform command failed with every fragment in its error output."""
    assert result.rc == ERROR, _shown(result)
    text = " ".join((result.stdout + result.stderr).split())  # Terraform wraps long messages
    for fragment in fragments:
        assert " ".join(fragment.split()) in text, f"{fragment!r} not in output\n{_shown(result)}"
    return result


def state_values(terraform: Any, address: str) -> dict[str, Any]:
    """The attribute values of one resource (`type.name`) in the local state file."""
    state = json.loads((terraform.workdir / "terraform.tfstate").read_text())
    for resource in state.get("resources", []):
        if resource.get("mode") == "managed" and f"{resource['type']}.{resource['name']}" == address:
            return resource["instances"][0]["attributes"]
    raise AssertionError(f"{address} not in state")


def closed_port_address() -> str:
    """An http:// address on loopback where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def point_at_unreachable_service(terraform: Any) -> None:
    """Rewrite the provider block so any contact with the service would fail."""
    terraform.configure_provider(address=closed_port_address(), token="unused", skip_child_token=True)


def instances(terraform: Any, address: str, mode: str = "managed") -> dict[Any, dict[str, Any]]:
    """The instances of one resource (`type.name`, of `count` or `for_each` too) in the local state file:
    their attribute values by index key (None for a single instance)."""
    state = json.loads((terraform.workdir / "terraform.tfstate").read_text())
    for resource in state.get("resources", []):
        if resource.get("mode") == mode and f"{resource['type']}.{resource['name']}" == address:
            return {i.get("index_key"): i["attributes"] for i in resource["instances"]}
    raise AssertionError(f"{address} not in state")


def data_values(terraform: Any, address: str) -> dict[str, Any]:
    """The attribute values of one data source (`data.type.name`) in the local state file."""
    return instances(terraform, address.removeprefix("data."), mode="data")[None]
