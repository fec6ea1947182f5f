"""`vaultguard access-review`: what a Terraform plan would let each agent do, and rules it must keep.

Input is `terraform show -json PLANFILE`. For every `vault_agent_registration` in it (created, updated,
deleted or unchanged), the agent's maximum access is what its ceiling policies allow (with `default` and
`default-ceiling` unless `no_default_ceiling_policy`), before and after the plan. Policy texts come from the
plan's `vault_policy` values; a policy the configuration does not manage is read from the server when
VAULT_ADDR and VAULT_TOKEN are set (a read, nothing else), else it is unknown, except the two built-in
ceiling policies, whose built-in text is then assumed and said so. Values unknown until apply stay unknown.

Every answer comes from the service's own ACL engine, asked on one witness path per class of paths
(service.authz.coverage): overlapping globs and `deny` carve-outs come out exactly as the server decides.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from vaultguard.rules.names import normalize_policy_name
from vaultguard.rules.registry import stored_ceiling
from vaultguard.service.authz.acl import ACL, AccessRequest, compile_acl
from vaultguard.service.authz.builtin import BUILTIN_POLICIES
from vaultguard.service.authz.coverage import TooComplex, path_classes, pattern_problem, policy_patterns, reach
from vaultguard.service.authz.policy import Policy, PolicyError, parse_policy

CAPABILITIES = ("create", "read", "update", "patch", "delete", "list", "sudo", "subscribe", "recover")
UNKNOWN = object()  # a value Terraform will only know at apply
DELETED = object()  # a policy the plan deletes


class ReviewInputError(ValueError):
    """Bad input: the message names the file and what is wrong (the command exits 2)."""


# ---- the plan ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicySource:
    """Where one policy's text came from, for the report."""

    text: str | None  # None: unknown
    origin: str  # "plan", "server", "built-in", "unknown"


@dataclass
class Agent:
    display_name: str
    namespace: str
    action: str  # create, update, delete, replace, no-op
    before: list[str] | None  # the ceiling policies in force before (None: the agent did not exist)
    after: list[str] | object | None  # after the plan (None: deleted; UNKNOWN: known at apply only)


def _value(change: Mapping[str, Any], side: str, key: str) -> Any:
    values = change.get(side) or {}
    if side == "after":
        unknown = (change.get("after_unknown") or {}).get(key)
        if unknown is True or (isinstance(unknown, list) and any(unknown)):
            return UNKNOWN
    return values.get(key)


def _action(actions: Sequence[str]) -> str:
    if list(actions) in (["delete", "create"], ["create", "delete"]):
        return "replace"
    return actions[0] if actions else "no-op"


def load_plan(path: Path) -> dict[str, Any]:
    """The plan's JSON, checked to be what `terraform show -json PLANFILE` writes."""
    try:
        plan = json.loads(path.read_text())
    except OSError as exc:
        raise ReviewInputError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReviewInputError(
            f"{path}: not JSON ({exc}); give the output of `terraform show -json PLANFILE`"
        ) from None
    if (
        not isinstance(plan, dict)
        or "format_version" not in plan
        or not isinstance(plan.get("resource_changes", []), list)
    ):
        raise ReviewInputError(
            f"{path}: not a Terraform plan in JSON; give the output of `terraform show -json PLANFILE`"
        )
    return plan


def _changes(plan: Mapping[str, Any], type_name: str) -> list[dict[str, Any]]:
    return [
        rc for rc in plan.get("resource_changes") or []
        if isinstance(rc, dict) and rc.get("type") == type_name and rc.get("mode", "managed") == "managed"
    ]  # fmt: skip


def planned_policies(plan: Mapping[str, Any]) -> tuple[dict[tuple[str, str], Any], dict[tuple[str, str], Any]]:
    """The `vault_policy` texts of the plan, before and after: (namespace, name) -> text (or UNKNOWN)."""
    before: dict[tuple[str, str], Any] = {}
    after: dict[tuple[str, str], Any] = {}
    for rc in _changes(plan, "vault_policy"):
        change = rc.get("change") or {}
        if change.get("before"):
            b = change["before"]
            before[(b.get("namespace") or "", normalize_policy_name(b.get("name") or ""))] = b.get("policy")
        if change.get("after") is not None and "delete" != _action(change.get("actions") or []):
            name, namespace = _value(change, "after", "name"), _value(change, "after", "namespace")
            if name is UNKNOWN or namespace is UNKNOWN:
                continue  # a policy whose name is not known yet cannot be looked up by any agent's ceiling
            after[(namespace or "", normalize_policy_name(name))] = _value(change, "after", "policy")
    for key in before.keys() - after.keys():
        after[key] = DELETED  # the plan deletes it: after apply the server no longer has it
    return before, after


def planned_agents(plan: Mapping[str, Any]) -> list[Agent]:
    agents = []
    for rc in _changes(plan, "vault_agent_registration"):
        change = rc.get("change") or {}
        action = _action(change.get("actions") or [])
        before = change.get("before")
        ceiling_before = (
            stored_ceiling(list(before.get("ceiling_policies") or []), bool(before.get("no_default_ceiling_policy")))
            if before
            else None
        )
        ceiling_after: Any = None
        name: Any = (before or {}).get("display_name")
        namespace: Any = (before or {}).get("namespace") or ""
        if action != "delete" and change.get("after") is not None:
            declared = _value(change, "after", "ceiling_policies")
            no_default = _value(change, "after", "no_default_ceiling_policy")
            if declared is UNKNOWN or no_default is UNKNOWN:
                ceiling_after = UNKNOWN
            else:
                ceiling_after = stored_ceiling(list(declared or []), bool(no_default))
            name = _value(change, "after", "display_name")
            namespace = _value(change, "after", "namespace") or ""
            if namespace is UNKNOWN:
                ceiling_after = UNKNOWN  # which namespace's policies it names is not known yet
        agents.append(
            Agent(
                display_name=rc.get("address", "?") if name is UNKNOWN or not name else name,
                namespace="(known after apply)" if namespace is UNKNOWN else namespace,
                action=action,
                before=ceiling_before,
                after=ceiling_after,
            )
        )
    return agents


# ---- policy texts and ACLs -----------------------------------------------------------------------------


ServerReader = Callable[[str, str], str | None]  # (namespace, name) -> text, or None when absent


def server_reader_from_environment(environ: Mapping[str, str] | None = None) -> ServerReader | None:
    """A read-only lookup of policy texts on the server named by VAULT_ADDR/VAULT_TOKEN, if both are set."""
    env = os.environ if environ is None else environ
    address, token = env.get("VAULT_ADDR"), env.get("VAULT_TOKEN")
    if not address or not token:
        return None
    import requests

    base_namespace = (env.get("VAULT_NAMESPACE") or "").strip("/")
    session = requests.Session()
    verify: Any = env.get("VAULT_CACERT") or True

    def read(namespace: str, name: str) -> str | None:
        headers = {"X-Vault-Token": token}
        joined = "/".join(p for p in (base_namespace, namespace.strip("/")) if p)
        if joined:
            headers["X-Vault-Namespace"] = joined
        resp = session.get(
            f"{address.rstrip('/')}/v1/sys/policies/acl/{quote(name, safe='')}",
            headers=headers,
            timeout=30,
            verify=verify,
        )
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        return (resp.json().get("data") or {}).get("policy")

    return read


@dataclass
class Resolver:
    """Policy texts for one side of the plan: the plan's own, else the server's, else unknown."""

    planned: Mapping[tuple[str, str], Any]
    server: ServerReader | None
    cache: dict[tuple[str, str], PolicySource] = field(default_factory=dict)

    def source(self, namespace: str, name: str) -> PolicySource:
        key = (namespace, name)
        if key in self.cache:
            return self.cache[key]
        if key in self.planned:
            text = self.planned[key]
            if text is UNKNOWN:
                found = PolicySource(None, "unknown")
            elif text is DELETED:
                found = PolicySource("", "absent")  # grants nothing, as the server treats a missing policy
            else:
                found = PolicySource(text or "", "plan")
        elif self.server is not None:
            try:
                text = self.server(namespace, name)
            except Exception as exc:  # noqa: BLE001 - a failed read leaves the text unknown, and says why
                found = PolicySource(None, f"unknown (reading it from the server failed: {exc})")
            else:
                found = PolicySource(text, "server") if text is not None else PolicySource("", "absent")
        elif name in BUILTIN_POLICIES:
            found = PolicySource(BUILTIN_POLICIES[name], "built-in")
        else:
            found = PolicySource(None, "unknown")
        self.cache[key] = found
        return found


@dataclass
class Access:
    """What a set of ceiling policies allows: the compiled ACL, its patterns, and where each came from."""

    acl: ACL
    policies: list[Policy]
    texts: dict[str, str]
    sources: dict[str, str]

    @property
    def patterns(self) -> list[str]:
        return policy_patterns(self.policies)


def access_of(names: Sequence[str], namespace: str, resolver: Resolver) -> Access | str:
    """The access the named ceiling policies give, or why it is unknown."""
    policies, texts, sources = [], {}, {}
    for name in names:
        source = resolver.source(namespace, name)
        sources[name] = source.origin
        if source.text is None:
            return f"policy {name!r} is {source.origin}"
        try:
            policies.append(parse_policy(name, source.text))
        except PolicyError as exc:
            return f"policy {name!r} does not parse: {exc}"
        texts[name] = source.text
    return Access(compile_acl(policies), policies, texts, sources)


def _line_of(text: str, pattern: str) -> int | None:
    match = re.search(r'(?m)^\s*(?:path\s+)?"' + re.escape(pattern) + r'"', text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _granted_by(access: Access, pattern: str, capabilities: Sequence[str]) -> list[dict[str, Any]]:
    """The policies (and lines) whose block for `pattern` writes any of `capabilities`."""
    out = []
    for policy in access.policies:
        for rule in policy.rules:
            if rule.pattern == pattern and (rule.capabilities & set(capabilities) or rule.is_deny):
                out.append({"policy": policy.name, "line": _line_of(access.texts[policy.name], pattern)})
                break
    return out


def listing(access: Access) -> list[dict[str, Any]]:
    """The access pattern by pattern, as the policies write it merged (a `deny` shown as such)."""
    rows = []
    for pattern in sorted(access.patterns):
        capabilities = sorted(_merged_caps(access, pattern))
        rows.append(
            {"path": pattern, "capabilities": capabilities, "granted_by": _granted_by(access, pattern, capabilities)}
        )
    return rows


def _merged_caps(access: Access, pattern: str) -> set[str]:
    caps: set[str] = set()
    for policy in access.policies:
        for rule in policy.rules:
            if rule.pattern == pattern:
                if rule.is_deny:
                    return {"deny"}
                caps |= rule.capabilities
    return caps


def difference(before: Access | None, after: Access | None) -> tuple[list[dict], list[dict]]:
    """(gained, lost): capabilities allowed on some paths after and not before, and the reverse, grouped by
    the pattern whose rule decides those paths."""
    patterns = [*(before.patterns if before else []), *(after.patterns if after else [])]
    gained: dict[str, set[str]] = {}
    lost: dict[str, set[str]] = {}
    for path, _ in path_classes(patterns):
        then = (before.acl.capabilities(path) if before else frozenset()) - {"deny"}
        now = (after.acl.capabilities(path) if after else frozenset()) - {"deny"}
        if now - then and after is not None:
            gained.setdefault(_deciding(after, path), set()).update(now - then)
        if then - now and before is not None:
            lost.setdefault(_deciding(before, path), set()).update(then - now)
    return _rows(gained, after), _rows(lost, before)


def _deciding(access: Access, path: str) -> str:
    return access.acl.evaluate(AccessRequest(path, "read")).matched_pattern or path


def _rows(found: Mapping[str, set[str]], access: Access | None) -> list[dict[str, Any]]:
    rows = []
    for pattern in sorted(found):
        caps = sorted(found[pattern])
        granted_by = _granted_by(access, pattern, caps) if access else []
        rows.append({"path": pattern, "capabilities": caps, "granted_by": granted_by})
    return rows


# ---- rules ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """`rule "name" { agents = [...], path = "...", capabilities = [...] }`: none of these agents may have
    any of these capabilities on any path the pattern covers."""

    name: str
    agents: tuple[str, ...]
    path: str
    capabilities: tuple[str, ...]

    def applies_to(self, agent: Agent) -> bool:
        qualified = f"{agent.namespace}/{agent.display_name}" if agent.namespace else agent.display_name
        return any(fnmatch.fnmatchcase(agent.display_name, g) or fnmatch.fnmatchcase(qualified, g) for g in self.agents)


def load_rules(path: Path) -> list[Rule]:
    """Rules from an HCL file; any mistake is a ReviewInputError naming the file, the rule and the field."""
    import hcl

    try:
        document = hcl.loads(path.read_text())
    except OSError as exc:
        raise ReviewInputError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001 - pyhcl raises several types for syntax errors
        raise ReviewInputError(f"{path}: not valid HCL: {exc}") from None
    unknown = set(document) - {"rule"}
    if unknown:
        raise ReviewInputError(f'{path}: unknown block {sorted(unknown)[0]!r}; only `rule "name" {{ ... }}` blocks')
    blocks = document.get("rule") or {}
    if not isinstance(blocks, dict) or not blocks:
        raise ReviewInputError(f'{path}: no `rule "name" {{ ... }}` block')
    rules = []
    for name, body in blocks.items():
        where = f'{path}: rule "{name}"'
        if not isinstance(body, dict):
            raise ReviewInputError(f"{where}: must be a block")
        extra = set(body) - {"agents", "path", "capabilities"}
        if extra:
            raise ReviewInputError(f"{where}: unknown field {sorted(extra)[0]!r} (fields: agents, path, capabilities)")
        agents, pattern, capabilities = body.get("agents"), body.get("path"), body.get("capabilities")
        if not isinstance(agents, list) or not agents or not all(isinstance(a, str) and a for a in agents):
            raise ReviewInputError(f"{where}: agents must be a non-empty list of display_name globs")
        if not isinstance(pattern, str) or not pattern:
            raise ReviewInputError(f"{where}: path must be an ACL path pattern")
        problem = pattern_problem(pattern)
        if problem:
            raise ReviewInputError(f"{where}: path {pattern!r} is not a valid ACL path pattern: {problem}")
        if (
            not isinstance(capabilities, list)
            or not capabilities
            or not all(isinstance(c, str) and c in CAPABILITIES for c in capabilities)
        ):
            raise ReviewInputError(f"{where}: capabilities must be a non-empty list of {', '.join(CAPABILITIES)}")
        rules.append(Rule(name, tuple(agents), pattern, tuple(capabilities)))
    return rules


# ---- the review ----------------------------------------------------------------------------------------


def review(plan: Mapping[str, Any], rules: Sequence[Rule], server: ServerReader | None) -> dict[str, Any]:
    """The report: per agent its access before and after, what it gains and loses; the rules it breaks."""
    policies_before, policies_after = planned_policies(plan)
    before_side, after_side = Resolver(policies_before, server), Resolver(policies_after, server)
    report: dict[str, Any] = {"agents": [], "violations": []}
    for agent in sorted(planned_agents(plan), key=lambda a: (a.namespace, a.display_name)):
        entry: dict[str, Any] = {
            "display_name": agent.display_name,
            "namespace": agent.namespace,
            "action": agent.action,
        }
        before = access_of(agent.before, agent.namespace, before_side) if agent.before is not None else None
        if agent.after is UNKNOWN:
            after: Access | str | None = "its ceiling policies are known only after apply"
        else:
            after = access_of(agent.after, agent.namespace, after_side) if agent.after is not None else None
        unknown = [why for why in (before, after) if isinstance(why, str)]
        if unknown:
            entry.update(unknown="; ".join(unknown), gained=[], lost=[], after=None)
        else:
            try:
                entry["gained"], entry["lost"] = difference(before, after)
            except TooComplex as exc:
                entry.update(unknown=f"too many overlapping patterns to compare ({exc})", gained=[], lost=[])
            entry["after"] = listing(after) if isinstance(after, Access) else []
        sources = {
            **(before.sources if isinstance(before, Access) else {}),
            **(after.sources if isinstance(after, Access) else {}),
        }
        entry["assumed"] = sorted(name for name, origin in sources.items() if origin == "built-in")
        report["agents"].append(entry)
        if isinstance(after, Access):
            for rule in rules:
                if rule.applies_to(agent):
                    for found in reach(after.acl, after.patterns, rule.path, rule.capabilities):
                        report["violations"].append(
                            {
                                "rule": rule.name,
                                "agent": entry["display_name"],
                                "namespace": agent.namespace,
                                "path": found.path,
                                "capabilities": [found.capability],
                                "pattern": found.pattern,
                                "policy": ", ".join(found.policies) or None,
                            }
                        )
    return report


# ---- rendering -----------------------------------------------------------------------------------------


def _caps(row: Mapping[str, Any]) -> str:
    return ", ".join(row["capabilities"])


def _by(row: Mapping[str, Any]) -> str:
    return ", ".join(f"{g['policy']}" + (f":{g['line']}" if g.get("line") else "") for g in row["granted_by"])


def _who(agent: Mapping[str, Any]) -> str:
    return f"{agent['namespace']}/{agent['display_name']}" if agent["namespace"] else agent["display_name"]


def render_text(report: Mapping[str, Any]) -> str:
    lines = []
    for agent in report["agents"]:
        lines.append(f"agent {_who(agent)} ({agent['action']})")
        if agent.get("unknown"):
            lines.append(f"  access unknown until apply: {agent['unknown']}")
        for sign, key in (("+", "gained"), ("-", "lost")):
            for row in agent[key]:
                lines.append(f"  {sign} {row['path']}: {_caps(row)}" + (f"  ({_by(row)})" if row["granted_by"] else ""))
        if not agent.get("unknown") and not agent["gained"] and not agent["lost"]:
            lines.append("  no change in access")
        if agent["assumed"]:
            lines.append(f"  (built-in text assumed for {', '.join(agent['assumed'])}: no server to read it from)")
    for v in report["violations"]:
        lines.append(
            f"VIOLATION rule {v['rule']!r}: {v['agent']} may {', '.join(v['capabilities'])} {v['path']}"
            f" (pattern {v['pattern']!r}, policy {v['policy']})"
        )
    if not report["agents"]:
        lines.append("no vault_agent_registration in this plan")
    return "\n".join(lines) + "\n"


def render_markdown(report: Mapping[str, Any]) -> str:
    out = ["## Agent access review", ""]
    if report["violations"]:
        out += ["**Rules broken:**", "", "| rule | agent | may | on | granted by |", "|---|---|---|---|---|"]
        for v in report["violations"]:
            out.append(
                f"| {v['rule']} | {v['agent']} | {', '.join(v['capabilities'])} | `{v['path']}` | {v['policy']} |"
            )
        out.append("")
    for agent in report["agents"]:
        out.append(f"### `{_who(agent)}` ({agent['action']})")
        out.append("")
        if agent.get("unknown"):
            out += [f"Access unknown until apply: {agent['unknown']}.", ""]
            continue
        if not agent["gained"] and not agent["lost"]:
            out += ["No change in access.", ""]
            continue
        out += ["| | path | capabilities | granted by |", "|---|---|---|---|"]
        for sign, key in (("gained", "gained"), ("lost", "lost")):
            for row in agent[key]:
                out.append(f"| {sign} | `{row['path']}` | {_caps(row)} | {_by(row)} |")
        out.append("")
        if agent["assumed"]:
            out += [f"_Built-in text assumed for {', '.join(agent['assumed'])}._", ""]
    return "\n".join(out)


RENDERERS: Mapping[str, Callable[[Mapping[str, Any]], str]] = {
    "text": render_text,
    "markdown": render_markdown,
    "json": lambda report: json.dumps(report, indent=2, sort_keys=True) + "\n",
}


def exit_status(report: Mapping[str, Any], *, fail_on_gain: bool) -> int:
    """0 nothing to object to; 1 a rule is broken (or, with `fail_on_gain`, an agent gains access)."""
    if report["violations"]:
        return 1
    if fail_on_gain and any(agent["gained"] for agent in report["agents"]):
        return 1
    return 0
