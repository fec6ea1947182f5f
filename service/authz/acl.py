"""Stages 2 and 3 of the ACL engine: compile parsed policies into an ACL, then evaluate requests against it.

Compiling does all the work that does not depend on the request: identity templates are rendered, the same
pattern from several policies is merged (DECISIONS.md#d42), exact patterns go into a dict, and wildcard patterns go
into a trie keyed by path segment with their priority (DECISIONS.md#d41) precomputed as one integer. Evaluating
then walks only the trie nodes that lie along the request path, so its cost does not grow with the number
of patterns, and it never raises: anything unexpected is a deny.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .policy import PathRule, Policy, merge_rules
from .templates import IdentityContext, render_template

# Which capability each operation needs (DECISIONS.md#d44); internal revoke/renew/rollback reuse "update".
_OPERATION_CAPABILITY: Mapping[str, str] = {
    "read": "read",
    "list": "list",
    "create": "create",
    "update": "update",
    "patch": "patch",
    "delete": "delete",
    "subscribe": "subscribe",
    "recover": "recover",
    "renew": "update",
    "revoke": "update",
    "rollback": "update",
}
# Operations that carry parameters worth checking (DECISIONS.md#d43: writes, and reads as Vault's code does).
_PARAMETER_CHECKED_OPERATIONS = frozenset({"read", "create", "update", "patch"})

ROOT_POLICY = "root"


@dataclass(frozen=True)
class AccessRequest:
    """One operation on one path, as the ACL sees it."""

    path: str  # namespace-relative, no /v1/, no leading "/"
    operation: str  # "read", "list", "create", "update", "patch", "delete"
    parameters: Mapping[str, Any] | None = field(default=None, hash=False)


@dataclass(frozen=True, slots=True)
class ACLResult:
    """The outcome of one evaluation, explaining itself.

    ``granting_policies`` are the policies behind the decisive rule: for an allow (or a parameter refusal)
    the policies granting the operation's capability on the matched pattern; for ``explicit_deny`` the
    policies that wrote ``deny`` there; for ``capability_missing`` every policy that wrote the pattern
    (their rule shadowed any broader one); empty when no pattern matched.

    ``reason`` is one of: allowed, root, no_matching_path, capability_missing, explicit_deny,
    required_parameter_missing, parameter_denied, parameter_not_allowed, evaluation_error.
    ``sudo`` says whether the matched rule grants sudo; callers decide which paths need it (DECISIONS.md#d42).
    """

    allowed: bool
    capabilities: frozenset[str]
    granting_policies: tuple[str, ...]
    matched_pattern: str | None
    reason: str
    is_root: bool = False
    sudo: bool = False


_NO_MATCH = ACLResult(False, frozenset(), (), None, "no_matching_path")
_EVALUATION_ERROR = ACLResult(False, frozenset(), (), None, "evaluation_error")
_ROOT_CAPABILITIES = frozenset({"root"})
_DENY_CAPABILITIES = frozenset({"deny"})
_ROOT_RESULT = ACLResult(True, _ROOT_CAPABILITIES, (ROOT_POLICY,), None, "root", is_root=True, sudo=True)


class _CompiledRule:
    """A merged path rule with everything evaluation needs precomputed."""

    __slots__ = (
        "pattern",
        "capabilities",
        "deny",
        "sudo",
        "grants",
        "writers",
        "rank",
        "required",
        "allowed",
        "denied",
        "checks_parameters",
        "allows_any_key",
        "allows_everything",
        "denies_everything",
        "_results",
    )

    def __init__(self, rule: PathRule, grants: Mapping[str, tuple[str, ...]], writers: tuple[str, ...]):
        self.pattern = rule.pattern
        self.deny = rule.is_deny
        # A block without capabilities allows nothing; it still shadows broader patterns.
        self.capabilities = _DENY_CAPABILITIES if self.deny else rule.capabilities
        self.sudo = "sudo" in self.capabilities
        self.grants = grants
        self.writers = writers
        self.rank = 0  # set once all wildcard patterns are known
        self.required = rule.required_parameters
        self.allowed = rule.allowed_parameters
        self.denied = rule.denied_parameters
        self.checks_parameters = bool(self.required or self.allowed or self.denied)
        self.allows_any_key = "*" in self.allowed
        self.allows_everything = not self.allowed or (len(self.allowed) == 1 and self.allows_any_key)
        self.denies_everything = "*" in self.denied
        self._results: dict[tuple[str, str], ACLResult] = {}

    def decide(self, operation: str, parameters: Mapping[str, Any] | None) -> ACLResult:
        if self.deny:
            return self._result(operation, "explicit_deny")
        capability = _OPERATION_CAPABILITY.get(operation)
        if capability is None or capability not in self.capabilities:
            return self._result(operation, "capability_missing")
        if self.checks_parameters and operation in _PARAMETER_CHECKED_OPERATIONS:
            problem = self._parameter_problem(parameters)
            if problem is not None:
                return self._result(operation, problem)
        return self._result(operation, "allowed")

    def _result(self, operation: str, reason: str) -> ACLResult:
        # Results are immutable and depend only on (operation, reason): build each once, reuse after.
        key = (operation, reason)
        result = self._results.get(key)
        if result is None:
            if reason == "explicit_deny":
                policies = self.grants.get("deny", ())
            elif reason == "capability_missing":
                policies = self.writers
            else:
                policies = self.grants.get(_OPERATION_CAPABILITY.get(operation, ""), ())
            result = ACLResult(
                allowed=reason == "allowed",
                capabilities=self.capabilities,
                granting_policies=policies,
                matched_pattern=self.pattern,
                reason=reason,
                sudo=self.sudo,
            )
            if operation in _OPERATION_CAPABILITY:  # never let odd operation names grow the cache
                self._results[key] = result
        return result

    def _parameter_problem(self, parameters: Mapping[str, Any] | None) -> str | None:
        """DECISIONS.md#d43, in Vault's order: required, then denied, then allowed."""
        data = parameters or {}
        for name in self.required:
            if name not in data:
                return "required_parameter_missing"
        if not data:
            return None
        if self.denied:
            if self.denies_everything:
                return "parameter_denied"
            for key, value in data.items():
                name = _parameter_name(key)
                denied_values = self.denied.get(name)
                if denied_values is not None and _is_denied(_comparable(name, value), denied_values):
                    return "parameter_denied"
        if self.allows_everything:
            return None
        for key, value in data.items():
            name = _parameter_name(key)
            allowed_values = self.allowed.get(name)
            if allowed_values is None:
                if not self.allows_any_key:
                    return "parameter_not_allowed"
            elif not _is_allowed(_comparable(name, value), allowed_values):
                return "parameter_not_allowed"
        return None


class _Node:
    """One trie node: the wildcard patterns whose literal segments so far equal the path's."""

    __slots__ = ("children", "plus", "end", "globs", "glob_index")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.plus: _Node | None = None  # the "+" segment
        self.end: _CompiledRule | None = None  # a "+" pattern that ends exactly here
        self.globs: dict[str, _CompiledRule] | None = None  # last segment "<prefix>*", keyed by prefix
        # (prefix length, last characters of the prefixes of that length), longest first
        self.glob_index: tuple[tuple[int, frozenset[str]], ...] = ()


class ACL:
    """A compiled set of policies. Build it with compile_acl(); evaluation never raises."""

    __slots__ = ("is_root", "policy_names", "_exact", "_root", "_has_wildcards")

    def __init__(self, policy_names: tuple[str, ...], is_root: bool) -> None:
        self.is_root = is_root
        self.policy_names = policy_names
        self._exact: dict[str, _CompiledRule] = {}
        self._root = _Node()
        self._has_wildcards = False

    @property
    def is_empty(self) -> bool:
        """True when the ACL holds no rule at all (e.g. every templated block was dropped)."""
        return not self.is_root and not self._exact and not self._has_wildcards

    def evaluate(self, request: AccessRequest) -> ACLResult:
        """Decide ``request``: exact pattern first, else the single highest-priority wildcard pattern."""
        try:
            if self.is_root:
                return _ROOT_RESULT
            operation = request.operation
            path = request.path
            if path.startswith("/"):
                # Defence in depth: "/secret/x" must not slip past a rule written for "secret/x".
                path = path.lstrip("/")
            if operation == "list" and not path.endswith("/"):
                # Listing works on prefixes (DECISIONS.md#d40): LIST secret/foo is checked as secret/foo/.
                path += "/"
            rule = self._exact.get(path)
            if rule is None and operation == "list":
                # Vault also lets an exact rule written without the slash govern the listing.
                rule = self._exact.get(path[:-1])
            if rule is None and self._has_wildcards:
                rule = self._best_wildcard(path)
            if rule is None:
                return _NO_MATCH
            return rule.decide(operation, request.parameters)
        except Exception:  # noqa: BLE001 - a failure to evaluate is a deny, never an accidental allow
            return _EVALUATION_ERROR

    def capabilities(self, path: str) -> frozenset[str]:
        """Capabilities on ``path`` for sys/capabilities-self: the winning rule's set.

        {"root"} for a root ACL, {"deny"} when no pattern matches or the winning rule allows nothing.
        """
        try:
            if self.is_root:
                return _ROOT_CAPABILITIES
            path = path.lstrip("/")
            rule = self._exact.get(path)
            if rule is None and self._has_wildcards:
                rule = self._best_wildcard(path)
            if rule is None or rule.deny or not rule.capabilities:
                return _DENY_CAPABILITIES
            return rule.capabilities
        except Exception:  # noqa: BLE001 - same contract as evaluate()
            return _DENY_CAPABILITIES

    def _best_wildcard(self, path: str) -> _CompiledRule | None:
        """The highest-ranked wildcard pattern matching ``path``, visiting only nodes along the path.

        The literal chain is followed in a plain loop; a "+" child met on the way is set aside and walked
        afterwards, so the common policy without "+" segments never builds a work list.
        """
        segments = path.split("/")
        count = len(segments)
        best: _CompiledRule | None = None
        best_rank = -1
        set_aside: list[tuple[_Node, int]] | None = None
        node: _Node | None = self._root
        depth = 0
        while True:
            while node is not None:
                if depth == count:
                    rule = node.end
                    if rule is not None and rule.rank > best_rank:
                        best, best_rank = rule, rule.rank
                    break
                segment = segments[depth]
                globs = node.globs
                if globs is not None:
                    size = len(segment)
                    # At one node the longest matching prefix wins (its "*" comes later): stop at the first.
                    # The last-character sets skip most misses without slicing and hashing the segment.
                    for length, last_characters in node.glob_index:
                        if length <= size and (length == 0 or segment[length - 1] in last_characters):
                            rule = globs.get(segment[:length])
                            if rule is not None:
                                if rule.rank > best_rank:
                                    best, best_rank = rule, rule.rank
                                break
                if node.plus is not None and segment:
                    if set_aside is None:
                        set_aside = []
                    set_aside.append((node.plus, depth + 1))
                node = node.children.get(segment)
                depth += 1
            if not set_aside:
                return best
            node, depth = set_aside.pop()

    def _add(self, rule: _CompiledRule) -> bool:
        """File ``rule`` under its pattern; True when it went into the wildcard trie."""
        pattern = rule.pattern
        segments = pattern.split("/")
        is_glob = pattern.endswith("*")
        if not is_glob and "+" not in segments:
            self._exact[pattern] = rule
            return False
        self._has_wildcards = True
        node = self._root
        for segment in segments[:-1] if is_glob else segments:
            if segment == "+":
                if node.plus is None:
                    node.plus = _Node()
                node = node.plus
            else:
                child = node.children.get(segment)
                if child is None:
                    child = node.children[segment] = _Node()
                node = child
        if is_glob:
            if node.globs is None:
                node.globs = {}
            node.globs[segments[-1][:-1]] = rule
        else:
            node.end = rule
        return True

    def _index_globs(self) -> None:
        """Build every node's glob_index once all patterns are in (per insert it would be quadratic)."""
        pending = [self._root]
        while pending:
            node = pending.pop()
            if node.globs:
                last_characters: dict[int, set[str]] = {}
                for prefix in node.globs:
                    last_characters.setdefault(len(prefix), set()).add(prefix[-1:])
                node.glob_index = tuple(
                    (length, frozenset(last_characters[length]))
                    for length in sorted(last_characters, reverse=True)
                )
            pending.extend(node.children.values())
            if node.plus is not None:
                pending.append(node.plus)


def compile_acl(policies: Iterable[Policy], identity: IdentityContext | None = None) -> ACL:
    """Compile ``policies`` (rendered for ``identity``) into an ACL.

    A policy named "root" makes the ACL allow everything. Templated patterns that cannot be rendered for
    ``identity`` are dropped. The same pattern from several policies (or several blocks) is merged first.
    """
    policies = tuple(policies)
    names = tuple(sorted({p.name for p in policies}))
    if ROOT_POLICY in names:
        return ACL(names, is_root=True)

    merged: dict[str, PathRule] = {}
    grants: dict[str, dict[str, set[str]]] = {}
    writers: dict[str, set[str]] = {}
    for policy in policies:
        for rule in policy.rules:
            if "{{" in rule.pattern or "}}" in rule.pattern:
                rendered = render_template(rule.pattern, identity)
                if rendered is None:
                    continue  # unresolvable for this caller: the block grants nothing (DECISIONS.md#d40)
                rule = replace(rule, pattern=rendered)
            pattern = rule.pattern
            merged[pattern] = merge_rules(merged[pattern], rule) if pattern in merged else rule
            writers.setdefault(pattern, set()).add(policy.name)
            by_capability = grants.setdefault(pattern, {})
            for capability in rule.capabilities:
                by_capability.setdefault(capability, set()).add(policy.name)

    acl = ACL(names, is_root=False)
    wildcard_rules: list[tuple[tuple, _CompiledRule]] = []
    for pattern, rule in merged.items():
        if rule.is_deny:
            # A deny-only rule reports just the policies that denied.
            rule_grants = {"deny": tuple(sorted(grants[pattern]["deny"]))}
        else:
            rule_grants = {c: tuple(sorted(p)) for c, p in grants[pattern].items()}
        compiled = _CompiledRule(rule, rule_grants, tuple(sorted(writers[pattern])))
        if acl._add(compiled):
            wildcard_rules.append((_priority(pattern), compiled))
    acl._index_globs()
    # One integer per pattern makes the DECISIONS.md#d41 comparison a single int compare at evaluation time.
    wildcard_rules.sort(key=lambda item: item[0])
    for rank, (_, compiled) in enumerate(wildcard_rules):
        compiled.rank = rank
    return acl


def _priority(pattern: str) -> tuple[int, int, int, int, str]:
    """Sort key for DECISIONS.md#d41: a larger key wins. Compared in order, a pattern ranks lower when
    1. its first "+" segment or "*" comes earlier, 2. it ends in "*" (and the other does not),
    3. it has more "+" segments, 4. it is shorter, 5. it sorts lexicographically smaller.
    """
    first_wildcard = len(pattern) - 1  # the trailing "*", unless a "+" segment comes first
    offset = 0
    plus_segments = 0
    for segment in pattern.split("/"):
        if segment == "+":
            if plus_segments == 0:
                first_wildcard = min(first_wildcard, offset)
            plus_segments += 1
        offset += len(segment) + 1
    ends_in_glob = pattern.endswith("*")
    return (first_wildcard, 0 if ends_in_glob else 1, -plus_segments, len(pattern), pattern)


# ---------------------------------------------------------------------------------------------------------
# Parameter values (DECISIONS.md#d43)
# ---------------------------------------------------------------------------------------------------------


def _parameter_name(key: Any) -> Any:
    # Vault compares parameter names lowercase.
    return key.lower() if isinstance(key, str) else key


def _comparable(name: Any, value: Any) -> Any:
    # Since 2.0.4 the "policies" parameter is lowercased before checking: policy names are stored that way.
    if name == "policies":
        if isinstance(value, str):
            return value.lower()
        if isinstance(value, list | tuple):
            return [v.lower() if isinstance(v, str) else v for v in value]
    return value


def _is_allowed(value: Any, allowed: tuple) -> bool:
    """An empty list allows any value; a list value is allowed as a whole or when every element is."""
    if not allowed or _value_listed(value, allowed):
        return True
    if isinstance(value, list | tuple):
        return all(_value_listed(element, allowed) for element in value)
    return False


def _is_denied(value: Any, denied: tuple) -> bool:
    """An empty list denies any value; a list value is denied as a whole or when any element is."""
    if not denied or _value_listed(value, denied):
        return True
    # A lone "*" in a denied list is read as "any value": the safe reading of what its author meant
    # (Vault would only match the literal string "*").
    if "*" in denied:
        return True
    if isinstance(value, list | tuple):
        return any(_value_listed(element, denied) for element in value)
    return False


def _value_listed(value: Any, listed: tuple) -> bool:
    for item in listed:
        if isinstance(item, str) and isinstance(value, str):
            if _glob_matches(item, value):
                return True
        elif _deep_equal(item, value):
            return True
    return False


def _glob_matches(item: str, value: str) -> bool:
    """Policy value globs: "foo-*" prefix, "*-foo" suffix, "*foo*" substring; a lone "*" is literal."""
    if len(item) < 2:
        return item == value
    leading = item[0] == "*"
    trailing = item[-1] == "*"
    if leading and trailing:
        return item[1:-1] in value
    if leading:
        return value.endswith(item[1:])
    if trailing:
        return value.startswith(item[:-1])
    return item == value


def _deep_equal(left: Any, right: Any) -> bool:
    """JSON-style deep equality: true never equals 1, 1 equals 1.0, lists compare element by element."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(_deep_equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(_deep_equal(left[k], right[k]) for k in left)
    if left is None or right is None:
        return left is None and right is None
    return type(left) is type(right) and left == right


__all__ = ["ACL", "ACLResult", "AccessRequest", "ROOT_POLICY", "compile_acl"]
