"""An agent's request: JWT → profile → subject and actor → registration → baseline, ceiling and RAR inputs.

Everything here is read from storage on every request (through caches keyed by exact content), so an
admin change is enforced on the very next request by every worker: no cache can serve a stale allow.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..authn.jwt import JWTValidator, TokenRejected, ValidatedToken
from ..authn.profiles import Profile
from ..authz.acl import ACL, AccessRequest
from ..authz.agent import decide
from ..authz.decision import Decision, LayerOutcome
from ..authz.rar import AuthorizationDetails, canonical_claim
from ..authz.templates import AliasContext, GroupContext, IdentityContext
from ..clock import rfc3339
from ..errors import ApiError
from ..identity.groups import Membership
from ..identity.model import Alias, Entity, Namespace, oauth_accessor
from ..identity.resolve import Resolution, Unresolved, resolve
from ..memo import BoundedMemo
from ..registry.model import Registration

if TYPE_CHECKING:  # deps imports this module; only the type is needed here
    from .policy_cache import PolicyCache

DISPLAY_NAME_PREFIX = "JWT Token with Unique Identifier: "
MAX_REMEMBERED_DECISIONS = 64  # per token and storage generation


@dataclass
class AgentCaller:
    """The ephemeral per-request identity of an agent (DECISIONS.md#d34); never stored."""

    token: ValidatedToken
    raw_token: str
    resolution: Resolution
    groups: Membership  # the subject's groups, which bring their policies to the baseline
    baseline_policies: tuple[str, ...]
    baseline: ACL
    ceiling: ACL
    details: AuthorizationDetails | None
    rar_optional: bool
    passed: tuple[LayerOutcome, ...]

    decisions: BoundedMemo[AccessRequest, Decision] = dataclasses.field(
        default_factory=lambda: BoundedMemo(MAX_REMEMBERED_DECISIONS)
    )

    def for_token(self, token: ValidatedToken, raw_token: str) -> AgentCaller:
        """The same agent, resolved and compiled, for another of its tokens. The remembered decisions are
        shared too: a decision depends only on the layers (the same for every token with these inputs in
        this generation) and the request, never on the token itself."""
        caller = copy.copy(self)  # not dataclasses.replace: this runs for every new token
        caller.token, caller.raw_token = token, raw_token
        return caller

    def decide(self, request: AccessRequest) -> Decision:
        """The decision is a pure function of this caller (fixed for a storage generation) and the
        request, so an agent repeating a request reuses it; the token's exp is re-checked upstream."""
        decision = self.decisions.get(request)
        if decision is None:
            decision = self.decisions.put(
                request, decide(request, self.baseline, self.ceiling, self.details, self.rar_optional, self.passed)
            )
        return decision

    def capabilities(self, path: str) -> frozenset[str]:
        """What this agent may do on `path` in this request: capabilities every layer allows."""
        caps = self.baseline.capabilities(path) & self.ceiling.capabilities(path)
        operations = {"read", "list", "create", "update", "patch", "delete"}
        allowed = frozenset(c for c in caps & operations if self.decide(AccessRequest(path, c)).allowed)
        return allowed or frozenset({"deny"})

    def lookup_data(self) -> dict:
        """`auth/token/lookup-self` for the ephemeral token (DECISIONS.md#d34)."""
        token = self.token
        issued = token.issued_at or token.not_before or token.expires_at
        now = time.time()
        return {
            "accessor": self.accessor,
            "creation_time": issued,
            "creation_ttl": max(0, token.expires_at - issued),
            "display_name": self.display_name,
            "entity_id": self.resolution.subject.id,
            "expire_time": rfc3339(token.expires_at),
            "explicit_max_ttl": 0,
            "id": self.raw_token,
            "issue_time": rfc3339(issued),
            "meta": None,
            "num_uses": 0,
            "orphan": True,
            "path": "auth/token/lookup-self",
            "policies": list(self.baseline_policies),
            "renewable": False,
            "ttl": max(0, int(token.expires_at - now)),
            "type": "ent",
        }

    @property
    def accessor(self) -> str:
        """Stable per token, derived from (issuer, unique id) and revealing neither."""
        digest = hashlib.sha256(f"{self.token.issuer}\x00{self.token.unique_id}".encode()).hexdigest()
        return digest[:24]

    @property
    def display_name(self) -> str:
        return DISPLAY_NAME_PREFIX + self.token.unique_id


class AgentDenied(ApiError):
    """A refused agent request; carries the Decision for the audit log and the explain API."""

    def __init__(self, decision: Decision):
        status, errors = decision.caller_error()
        super().__init__(status, *errors)
        self.decision = decision


class AgentDirectory(Protocol):
    """What an agent request needs from storage (a memoized DirectoryView, or any in-memory equivalent)."""

    def find_profile(self, namespace_id: str, issuer: str) -> Profile | None: ...
    def alias_by_issuer(self, namespace_id: str, issuer: str, external_id: str) -> Alias | None: ...
    def entity_by_id(self, namespace_id: str, entity_id: str) -> Entity | None: ...
    def registration_by_entity(self, namespace_id: str, entity_id: str) -> Registration | None: ...
    def policy_texts(self, namespace_id: str, names: list[str]) -> dict[str, str]: ...
    def membership(
        self, namespace_id: str, entity_id: str, accessor: str, claim_values: tuple[str, ...]
    ) -> Membership: ...
    def memo(self, key: Hashable, build: Callable[[], Any]) -> Any: ...

    generation: int  # changed by every admin write (entities, aliases and policies included)


def build_caller(
    token: ValidatedToken, raw_token: str, namespace_id: str, directory: AgentDirectory, cache: PolicyCache
) -> AgentCaller:
    """Resolve subject, actor and registration and compile the three layers for a validated token.

    Raises AgentDenied (identity or registry layer). Pure over `directory`: no web or database types.
    """
    passed: tuple[LayerOutcome, ...] = (LayerOutcome("token", True, "valid", (token.profile.name,)),)
    try:
        resolution = resolve(directory, namespace_id, token.issuer, token.subject, token.actor)
    except Unresolved as exc:
        if exc.layer == "registry":  # subject and actor were found: record it, as for every layer passed
            passed += (LayerOutcome("identity", True, "resolved", ()),)
        raise AgentDenied(Decision.deny(exc.layer, exc.reason, exc.detail, passed)) from None
    subject = resolution.subject
    groups = subject_groups(token, namespace_id, subject.id, directory)
    baseline_texts = directory.policy_texts(namespace_id, baseline_names(token.profile, subject, groups))
    ceiling_texts = directory.policy_texts(namespace_id, resolution.registration.ceiling_policies)
    passed += (
        LayerOutcome("identity", True, "resolved", ()),
        LayerOutcome("registry", True, "registered", (resolution.registration.id,)),
    )
    def identity() -> IdentityContext:  # built only when a templated policy or RAR entry must be compiled
        return IdentityContext(
            entity_id=subject.id,
            entity_name=subject.name,
            metadata=dict(subject.metadata),
            aliases={
                a.mount_accessor: AliasContext(a.id, a.name, {}, dict(a.custom_metadata)) for a in subject.aliases
            },
            groups=tuple(GroupContext(g.id, g.name, dict(g.metadata)) for g in groups.groups),
        )

    # Templated policies and RAR entries are compiled once per identity: the key is everything a template can
    # read (DECISIONS.md#d54), so a change to any of it compiles anew, and an unrelated admin write does not
    # (keyed by the generation, every write would compile and keep a new ACL per active agent).
    identity_key = identity_content(subject, groups)
    details = None
    if token.authorization_details is not None:
        details = cache.details(token.authorization_details, identity, identity_key)
    return AgentCaller(
        token=token,
        raw_token=raw_token,
        resolution=resolution,
        groups=groups,
        baseline_policies=tuple(sorted(baseline_texts)),
        baseline=cache.acl(baseline_texts, identity, identity_key),
        ceiling=cache.acl(ceiling_texts, identity, identity_key),
        details=details,
        rar_optional=token.profile.optional_authorization_details
        or resolution.registration.optional_authorization_details,
        passed=passed,
    )


def identity_content(subject: Entity, groups: Membership) -> tuple:
    """What identity templates can read of the subject (templates.IdentityContext), as a hashable value."""
    return (
        subject.id,
        subject.name,
        tuple(sorted(subject.metadata.items())),
        tuple(sorted((a.mount_accessor, a.id, a.name, tuple(sorted(a.custom_metadata.items())))
                     for a in subject.aliases)),
        tuple((g.id, g.name, tuple(sorted(g.metadata.items()))) for g in groups.groups),
    )


def subject_groups(token: ValidatedToken, namespace_id: str, entity_id: str, directory: AgentDirectory) -> Membership:
    """The groups of the request's subject: stored memberships, and the groups its token's groups claim names
    through aliases on the profile's mount accessor (DECISIONS.md#d62)."""
    accessor = oauth_accessor(namespace_id, token.profile.config_id)
    return directory.membership(namespace_id, entity_id, accessor, token.groups)


def baseline_names(profile: Profile, subject: Entity, groups: Membership) -> list[str]:
    """The baseline: the subject entity's policies, its groups' policies, and `default` unless the profile
    says `no_default_policy`."""
    default = [] if profile.no_default_policy else ["default"]
    return list(dict.fromkeys(subject.policies + groups.policies() + default))


def caller_for(
    token: ValidatedToken, raw_token: str, namespace_id: str, directory: AgentDirectory, cache: PolicyCache
) -> AgentCaller:
    """`build_caller`, memoized for the directory's generation at two levels.

    By the exact token presented, so a repeated request reuses its remembered decisions; and by what the
    decision depends on (profile, subject, actor, groups claim, authorization_details), because agents fetch a
    new token often for the same work: a new token of a known agent then skips resolution and compilation.
    """

    def from_inputs() -> AgentCaller:
        details = token.authorization_details
        details_text = None if details is None else canonical_claim(details)
        key = ("agent-inputs", namespace_id, token.profile.config_id, token.subject, token.actor, token.groups,
               details_text)  # fmt: skip
        shared = directory.memo(key, lambda: build_caller(token, raw_token, namespace_id, directory, cache))
        return shared.for_token(token, raw_token)

    return directory.memo(("agent", namespace_id, raw_token), from_inputs)


async def evaluate_agent(
    validator: JWTValidator, directory: AgentDirectory, cache: PolicyCache, namespace: Namespace, raw_token: str
) -> AgentCaller | Decision:
    """Validate and resolve without raising: the agent, or the refusal (token, identity or registry layer).

    The one path every agent token takes: requests to this service (access.callers.resolve_caller) and the decision
    API's HTTP and gRPC front ends (api.decision_query.evaluate_query).
    """
    try:
        token = await validator.validate_async(raw_token, lambda issuer: directory.find_profile(namespace.id, issuer))
    except TokenRejected as exc:
        return Decision.deny("token", exc.reason, exc.detail)
    try:
        return caller_for(token, raw_token, namespace.id, directory, cache)
    except AgentDenied as exc:
        return exc.decision
