"""Parsed policies, compiled ACLs and compiled authorization_details, keyed by exactly what they are built
from (the texts, and for templates the identity they read), so a change is seen on the next request."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..authz.acl import ACL, compile_acl
from ..authz.policy import Policy, PolicyError, parse_policy
from ..authz.rar import AuthorizationDetails, canonical_claim, compile_details
from ..authz.templates import IdentityContext
from ..memo import BoundedMemo


class PolicyCache:
    """Parsed policies and compiled ACLs keyed by their exact text, so a change is seen at once."""

    def __init__(self, size: int = 2048):
        self.size = size
        self._policies: BoundedMemo[tuple[str, str], Policy] = BoundedMemo(size)
        self._acls: BoundedMemo[tuple[tuple[tuple[str, str], ...], object], ACL] = BoundedMemo(size)
        self._details: BoundedMemo[tuple[str, object], AuthorizationDetails] = BoundedMemo(size)
        self._templated: BoundedMemo[tuple[tuple[str, str], ...], bool] = BoundedMemo(size)

    def policy(self, name: str, text: str) -> Policy | None:
        key = (name, text)
        policy = self._policies.get(key)
        if policy is None:
            try:
                policy = parse_policy(name, text)
            except PolicyError:
                return None  # stored text was validated on write; a failure here grants nothing
            self._policies.put(key, policy)
        return policy

    def acl(
        self,
        texts: dict[str, str],
        identity: IdentityContext | Callable[[], IdentityContext] | None = None,
        identity_key: object = None,
    ) -> ACL:
        """The compiled ACL for these policy texts; templated policies are compiled per identity.

        `identity` may be a factory, called only when a templated ACL must be compiled; `identity_key`
        must change whenever anything a template can read changes (entity, aliases).
        """
        items = tuple(sorted(texts.items()))
        templated = self._templated.get(items)
        if templated is None:
            templated = self._templated.put(
                items, any(p.templated for name, text in items if (p := self.policy(name, text)) is not None)
            )
        key = (items, identity_key if templated and identity is not None else None)
        acl = self._acls.get(key)
        if acl is None:
            policies = [p for name, text in items if (p := self.policy(name, text)) is not None]
            acl = self._acls.put(key, compile_acl(policies, identity() if callable(identity) else identity))
        return acl

    def details(
        self,
        claim: Sequence[Mapping[str, Any]],
        identity: IdentityContext | Callable[[], IdentityContext],
        identity_key: object,
    ) -> AuthorizationDetails:
        """Compiled authorization_details; agents send the same claim with every new token, so compile once.

        The key is the claim's canonical JSON (plus the identity when an entry is templated)."""
        text = canonical_claim(claim)
        key = (text, identity_key if "{{" in text else None)
        compiled = self._details.get(key)
        if compiled is None:
            compiled = self._details.put(key, compile_details(claim, identity() if callable(identity) else identity))
        return compiled
