"""Provider-defined functions (Terraform 1.8+): questions about agent access, asked inside Terraform.

    provider::vault::policy_allows(policies, capability, path)    -> bool
    provider::vault::policy_reaches(policies, capability, pattern) -> bool
    provider::vault::policy_capabilities(policies, path)           -> list(string)

`policies` are policy documents (HCL or JSON, e.g. `[vault_policy.ceiling.policy]`), taken together as the
service takes an agent's ceiling: merged, most specific pattern wins, `deny` wins. The answers come from the
service's own ACL engine, so `check` blocks, variable validations and `terraform test` assertions say what
the server will do. No argument may be unknown or null: Terraform then returns unknown without calling the
function, so a value known only after apply stays unknown in the plan.
"""

from __future__ import annotations

from typing import Any

from tf.function import CallContext, FunctionSignature, Parameter, Return
from tf.types import Bool, List, String

# The service's ACL engine is imported by the functions that use it: the provider serves its function
# signatures on every Terraform command, and calls a function only when a configuration does.

_POLICIES = Parameter(
    "policies",
    List(String()),
    description="Policy documents (HCL or JSON), evaluated together as one ceiling.",
)
_CAPABILITY = Parameter(
    "capability", String(), description="`create`, `read`, `update`, `patch`, `delete`, `list` or `sudo`."
)
_OPERATIONS = ("create", "read", "update", "patch", "delete", "list")
_CAPABILITIES = (*_OPERATIONS, "sudo", "subscribe", "recover")


class FunctionError(ValueError):
    """A bad argument: its message becomes the function's error in Terraform."""


def _compiled(documents: list[str]) -> tuple[Any, list[str]]:
    from vaultguard.service.authz.acl import compile_acl
    from vaultguard.service.authz.coverage import policy_patterns
    from vaultguard.service.authz.policy import PolicyError, parse_policy

    policies = []
    for index, text in enumerate(documents):
        try:
            policies.append(parse_policy(f"policy{index}", text or ""))
        except PolicyError as exc:
            raise FunctionError(f"policies[{index}] is not a valid policy: {exc}") from None
    return compile_acl(policies), policy_patterns(policies)


def _capability(value: str) -> str:
    if value not in _CAPABILITIES:
        raise FunctionError(f"capability must be one of {', '.join(_CAPABILITIES)}; got {value!r}")
    return value


def _relative(path: str) -> str:
    return path.lstrip("/")


class _VaultFunction:
    """Shared plumbing: a bad argument becomes one error naming it, never a stack trace."""

    def __init__(self, provider: Any):
        self.provider = provider

    def call(self, ctx: CallContext, arguments: list[Any]) -> Any:
        try:
            return self.evaluate(*arguments)
        except FunctionError as exc:
            ctx.diagnostics.add_error(f"{ctx.function_name}: {exc}")
            return None

    def evaluate(self, *arguments: Any) -> Any:  # pragma: no cover - each function defines it
        raise NotImplementedError


class PolicyAllows(_VaultFunction):
    @classmethod
    def get_name(cls) -> str:
        return "policy_allows"

    @classmethod
    def get_signature(cls) -> FunctionSignature:
        return FunctionSignature(
            parameters=[_POLICIES, _CAPABILITY, Parameter("path", String(), description="A concrete path.")],
            return_type=Return(Bool()),
            summary="Whether the policies, taken together, allow a capability on a path.",
            description="True when the most specific pattern matching `path` grants `capability` and no "
            "`deny` applies, as the service decides a request.",
        )

    def evaluate(self, documents: list[str], capability: str, path: str) -> bool:
        acl, _ = _compiled(documents)
        capability = _capability(capability)
        if capability in _OPERATIONS:
            from vaultguard.service.authz.acl import AccessRequest

            return acl.evaluate(AccessRequest(_relative(path), capability)).allowed
        return capability in acl.capabilities(_relative(path))


class PolicyReaches(_VaultFunction):
    @classmethod
    def get_name(cls) -> str:
        return "policy_reaches"

    @classmethod
    def get_signature(cls) -> FunctionSignature:
        return FunctionSignature(
            parameters=[_POLICIES, _CAPABILITY, Parameter("pattern", String(), description="An ACL path pattern.")],
            return_type=Return(Bool()),
            summary="Whether the policies allow a capability on some path an ACL pattern covers.",
            description="Overlap, not string equality: a grant on `secret/data/+/db` reaches "
            "`secret/data/prod/*`; a broad grant with prod carved out by `deny` does not.",
        )

    def evaluate(self, documents: list[str], capability: str, pattern: str) -> bool:
        from vaultguard.service.authz.coverage import pattern_problem, reach

        acl, patterns = _compiled(documents)
        capability = _capability(capability)
        problem = pattern_problem(pattern)
        if problem:
            raise FunctionError(f"pattern {pattern!r} is not a valid ACL path pattern: {problem}")
        return bool(reach(acl, patterns, _relative(pattern), [capability]))


class PolicyCapabilities(_VaultFunction):
    @classmethod
    def get_name(cls) -> str:
        return "policy_capabilities"

    @classmethod
    def get_signature(cls) -> FunctionSignature:
        return FunctionSignature(
            parameters=[_POLICIES, Parameter("path", String(), description="A concrete path.")],
            return_type=Return(List(String())),
            summary="The capabilities the policies, taken together, give on a path (sorted; `deny` when none).",
        )

    def evaluate(self, documents: list[str], path: str) -> list[str]:
        acl, _ = _compiled(documents)
        return sorted(acl.capabilities(_relative(path)))


FUNCTIONS = [PolicyAllows, PolicyCapabilities, PolicyReaches]
