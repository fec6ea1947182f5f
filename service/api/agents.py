"""An agent's request: JWT → profile → subject and actor → registration → baseline, ceiling and RAR inputs.

Everything here is read from storage on every request (through caches keyed by exact content), so an
admin change is enforced on the very next request by every worker: no cache can serve a stale allow.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from ..authn.jwt import TokenRejected, ValidatedToken
from ..authn.profiles import Profile
from ..authz.acl import ACL, AccessRequest
from ..authz.agent import decide
from ..authz.decision import Decision, LayerOutcome
from ..authz.rar import AuthorizationDetails, compile_details
from ..authz.templates import AliasContext, IdentityContext
from ..clock import rfc3339
from ..identity.model import Namespace
from ..identity.resolve import Resolution, Unresolved, resolve
from ..storage.store import Store
from .errors import ApiError

DISPLAY_NAME_PREFIX = "JWT Token with Unique Identifier: "


@dataclass
class AgentCaller:
    """The ephemeral per-request identity of an agent (SPEC B §3.4); never stored."""

    token: ValidatedToken
    raw_token: str
    resolution: Resolution
    baseline_policies: tuple[str, ...]
    baseline: ACL
    ceiling: ACL
    details: AuthorizationDetails | None
    rar_optional: bool
    passed: tuple[LayerOutcome, ...]

    def decide(self, request: AccessRequest) -> Decision:
        return decide(request, self.baseline, self.ceiling, self.details, self.rar_optional, self.passed)

    def capabilities(self, path: str) -> frozenset[str]:
        """What this agent may do on `path` in this request: capabilities every layer allows."""
        caps = self.baseline.capabilities(path) & self.ceiling.capabilities(path)
        operations = {"read", "list", "create", "update", "patch", "delete"}
        allowed = frozenset(c for c in caps & operations if self.decide(AccessRequest(path, c)).allowed)
        return allowed or frozenset({"deny"})

    def lookup_data(self) -> dict:
        """`auth/token/lookup-self` for the ephemeral token (SPEC B §3.4)."""
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


def _find_profile(store: Store, namespace: Namespace):  # noqa: ANN202
    def find(issuer: str) -> Profile | None:
        with store.read() as tx:
            candidates = [p for p in tx.profiles_by_issuer(namespace.id, issuer) if p.enabled]
        # A local profile beats a global one for the same issuer (2.2); disabled ones are skipped.
        candidates.sort(key=lambda p: not p.local)
        return candidates[0] if candidates else None

    return find


async def authenticate_agent(request, store: Store, namespace: Namespace, raw_token: str) -> AgentCaller:  # noqa: ANN001
    """Validate and resolve; raise AgentDenied (403) with the precise reason kept for the audit log."""
    validator = request.app.state.jwt_validator
    try:
        token = await validator.validate_async(raw_token, _find_profile(store, namespace))
    except TokenRejected as exc:
        raise AgentDenied(Decision.deny("token", exc.reason, exc.detail)) from None
    passed: tuple[LayerOutcome, ...] = (LayerOutcome("token", True, "valid", (token.profile.name,)),)
    with store.read() as tx:
        try:
            resolution = resolve(tx, namespace.id, token.issuer, token.subject, token.actor)
        except Unresolved as exc:
            raise AgentDenied(Decision.deny(exc.layer, exc.reason, exc.detail, passed)) from None
        subject = resolution.subject
        default = [] if token.profile.no_default_policy else ["default"]
        baseline_names = list(dict.fromkeys(subject.policies + default))
        baseline_texts = tx.policy_texts(namespace.id, baseline_names)
        ceiling_texts = tx.policy_texts(namespace.id, resolution.registration.ceiling_policies)
    passed += (
        LayerOutcome("identity", True, "resolved", ()),
        LayerOutcome("registry", True, "registered", (resolution.registration.id,)),
    )
    identity = IdentityContext(
        entity_id=subject.id,
        entity_name=subject.name,
        metadata=dict(subject.metadata),
        aliases={
            a.mount_accessor: AliasContext(id=a.id, name=a.name, metadata={}, custom_metadata=dict(a.custom_metadata))
            for a in subject.aliases
        },
    )
    identity_key = (subject.id, subject.last_update_time, tuple((a.id, a.last_update_time) for a in subject.aliases))
    cache = request.app.state.policy_cache
    details = None
    if token.authorization_details is not None:
        details = compile_details(token.authorization_details, identity)
    return AgentCaller(
        token=token,
        raw_token=raw_token,
        resolution=resolution,
        baseline_policies=tuple(sorted(baseline_texts)),
        baseline=cache.acl(baseline_texts, identity, identity_key),
        ceiling=cache.acl(ceiling_texts, identity, identity_key),
        details=details,
        rar_optional=token.profile.optional_authorization_details
        or resolution.registration.optional_authorization_details,
        passed=passed,
    )
