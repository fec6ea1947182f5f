"""What an ACL allows over whole path patterns, not one path: for access review.

The ACL engine answers for one concrete path. A reviewer asks about patterns: "may this agent write anywhere
under `secret/data/prod/*`?", or "what does this change grant?". Patterns overlap in ways string comparison
misses (`secret/data/+/db` reaches `secret/data/prod/db`), and a broad grant may be carved out by a more
specific `deny`. So the questions are answered with the engine itself, on concrete witness paths:

A path pattern decides a path segment by segment. Given the patterns involved, every concrete path falls in
a *class* of paths that no pattern can tell apart (each pattern matches all of the class or none of it), and
the engine's decision depends only on which patterns match, so it is the same across a class. `path_classes`
enumerates one witness path per class, exactly: what holds on the witnesses holds on every path.

A segment is tested only against the literal segments of the patterns (equality), the prefixes of their
final `*` (startswith) and `+` (any non-empty segment). So the candidates for one segment are: every literal,
every glob prefix followed by a character no pattern uses, that character alone, and the empty segment.
Paths longer than the longest pattern are matched only through a `*`, so one segment more covers them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from .acl import ACL, AccessRequest
from .policy import Policy, PolicyError, parse_policy

# A cap on the classes explored, so a pathological set of patterns cannot run away.
MAX_CLASSES = 200_000


def pattern_problem(pattern: str) -> str | None:
    """Why `pattern` is not an ACL path pattern the policy parser accepts (its message), or None."""
    try:
        parse_policy("pattern", f'path {json.dumps(pattern)} {{ capabilities = ["read"] }}')
    except PolicyError as exc:
        return str(exc)
    return None


def policy_patterns(policies: Iterable[Policy]) -> list[str]:
    """Every path pattern the policies write, once each, in order."""
    return list(dict.fromkeys(rule.pattern for policy in policies for rule in policy.rules))


class TooComplex(ValueError):
    """The patterns define more path classes than MAX_CLASSES."""


@dataclass(frozen=True)
class _Pattern:
    segments: tuple[str, ...]  # the last one is the glob prefix when `glob`
    glob: bool

    @classmethod
    def parse(cls, pattern: str) -> _Pattern:
        segments = tuple(pattern.lstrip("/").split("/"))
        if segments[-1].endswith("*"):
            return cls(segments[:-1] + (segments[-1][:-1],), True)
        return cls(segments, False)

    def step(self, position: int, segment: str) -> int | None:
        """The state after `segment` at `position`: the next position, -1 once a glob matched, None dead."""
        if position == -1:
            return -1
        if self.glob and position == len(self.segments) - 1:
            return -1 if segment.startswith(self.segments[-1]) else None
        if position >= len(self.segments):
            return None
        expected = self.segments[position]
        if expected == "+":
            return position + 1 if segment else None
        return position + 1 if segment == expected else None

    def accepts(self, position: int | None) -> bool:
        return position == -1 or (not self.glob and position == len(self.segments))


def _fresh_character(patterns: Iterable[str]) -> str:
    used = set("".join(patterns))
    return next(c for c in "~_-.x0123456789abcdefghijklmnopqrstuvwyz" if c not in used)


def path_classes(patterns: Sequence[str], within: str | None = None) -> Iterator[tuple[str, frozenset[str]]]:
    """One witness path per class of paths the `patterns` cannot tell apart, with the patterns matching it.

    With `within`, only classes inside that pattern (which takes part in the classification too). Witness
    paths are built from the patterns' own text, plus one character none of them uses.
    """
    texts = list(dict.fromkeys([*patterns, *([within] if within is not None else [])]))
    parsed = [_Pattern.parse(p) for p in texts]
    fresh = _fresh_character(texts)
    candidates: list[str] = ["", fresh]  # the empty segment, and one equal to no literal and no prefix
    for p in parsed:
        literals = p.segments[:-1] if p.glob else p.segments
        candidates.extend(s for s in literals if s != "+")
        if p.glob:
            candidates.append(p.segments[-1] + fresh)
    candidates = list(dict.fromkeys(candidates))
    longest = max((len(p.segments) for p in parsed), default=0) + 1
    within_index = texts.index(within) if within is not None else None

    start = tuple(0 for _ in parsed)
    seen = {start}
    frontier: list[tuple[tuple[int | None, ...], tuple[str, ...]]] = [(start, ())]
    explored = 0
    for _depth in range(longest):
        next_frontier = []
        for state, segments in frontier:
            for segment in candidates:
                moved = tuple(
                    p.step(pos, segment) if pos is not None else None for p, pos in zip(parsed, state, strict=True)
                )
                if all(pos is None for pos in moved):
                    continue  # no pattern can match this path or any longer one
                path = (*segments, segment)
                matching = frozenset(t for t, p, pos in zip(texts, parsed, moved, strict=True) if p.accepts(pos))
                if within_index is None or within in matching:
                    yield "/".join(path), matching - ({within} if within is not None else set())
                if moved in seen:
                    continue
                seen.add(moved)
                explored += 1
                if explored > MAX_CLASSES:
                    raise TooComplex(f"more than {MAX_CLASSES} classes of paths")
                next_frontier.append((moved, path))
        frontier = next_frontier


@dataclass(frozen=True)
class Reach:
    """A capability the ACL allows somewhere: on `path` (a witness), by the rule written for `pattern`."""

    capability: str
    path: str
    pattern: str | None
    policies: tuple[str, ...]


_OPERATIONS = ("read", "list", "create", "update", "patch", "delete")


def reach(acl: ACL, patterns: Sequence[str], within: str, capabilities: Iterable[str]) -> list[Reach]:
    """Every listed capability the ACL allows on some path `within` the pattern, with a witness for each.

    `patterns` are the ACL's own patterns (the engine cannot list them); each is asked of the engine on
    one witness per class, so overlap and `deny` carve-outs come out as the engine decides them.
    """
    wanted = set(capabilities)
    found: dict[str, Reach] = {}
    for path, _ in path_classes(patterns, within=within):
        allowed = acl.capabilities(path) - {"deny"}
        for capability in sorted((allowed & wanted) - found.keys()):
            found[capability] = _explain(acl, path, capability)
        if found.keys() == wanted:
            break
    return [found[c] for c in sorted(found)]


def _explain(acl: ACL, path: str, capability: str) -> Reach:
    operation = capability if capability in _OPERATIONS else "read"
    result = acl.evaluate(AccessRequest(path, operation))
    policies = result.granting_policies if capability in _OPERATIONS else ()
    return Reach(capability, path, result.matched_pattern, policies)
