"""Read-mostly lookups for the agent hot path, memoized per storage generation.

Every admin write bumps the `generation` row in the same transaction (Store.write), so a request that
reads the generation first and finds it unchanged may reuse anything looked up under it: nothing can be
stale. A changed generation (from this worker or another worker of this server) empties the memo before
the request is served, so admin changes are enforced on the next request; changes through another replica
sharing PostgreSQL, within the replica propagation bound (`Directory`).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from ..authn.profiles import Profile
from ..authn.tokens import TokenRecord
from ..identity import groups
from ..identity.groups import Membership
from ..identity.model import ROOT_NAMESPACE_ID, Alias, Entity, Namespace
from ..memo import BoundedMemo
from ..registry.model import Registration
from .store import Store


class DirectoryView:
    """Lookups valid for one generation; each result is fetched once, then served from memory."""

    def __init__(self, store: Store, generation: int, max_entries: int, max_agents: int):
        self.store = store
        self.generation = generation
        self._lookups: BoundedMemo[Hashable, Any] = BoundedMemo(max_entries)
        self._agents: BoundedMemo[Hashable, Any] = BoundedMemo(max_agents)

    def memo(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """Per-token results (keys hold the token, up to 8 KiB each, so this memo is smaller)."""
        return self._agents.remember(key, build)

    def _cached(self, key: Hashable, build: Callable[[], Any]) -> Any:
        return self._lookups.remember(key, build)

    def _read(self, method: str, *args: Any) -> Any:
        def fetch() -> Any:
            with self.store.read() as tx:
                return getattr(tx, method)(*args)

        return self._cached((method, *args), fetch)

    def find_profile(self, namespace_id: str, issuer: str) -> Profile | None:
        """The enabled profile trusting `issuer` in the namespace; a local one beats a global one (2.2)."""

        def fetch() -> Profile | None:
            with self.store.read() as tx:
                candidates = [p for p in tx.profiles_by_issuer(namespace_id, issuer) if p.enabled]
            candidates.sort(key=lambda p: not p.local)
            return candidates[0] if candidates else None

        return self._cached(("find_profile", namespace_id, issuer), fetch)

    def namespace(self, path: str) -> Namespace | None:
        """The namespace at `path` ("" for root, else "a/b" without the trailing slash)."""
        if not path:
            return self._read("namespace_by_id", ROOT_NAMESPACE_ID)
        return self._read("namespace_by_path", path.strip("/") + "/")

    def namespace_by_id(self, namespace_id: str) -> Namespace | None:
        return self._read("namespace_by_id", namespace_id)

    def token_by_hash(self, id_hash: str) -> TokenRecord | None:
        """Admin tokens: creating, using up or revoking one is a write, so the generation covers them too;
        expiry is time-based and checked by the caller on every request."""
        return self._read("token_by_hash", id_hash)

    def alias_by_issuer(self, namespace_id: str, issuer: str, external_id: str) -> Alias | None:
        return self._read("alias_by_issuer", namespace_id, issuer, external_id)

    def entity_by_id(self, namespace_id: str, entity_id: str) -> Entity | None:
        return self._read("entity_by_id", namespace_id, entity_id)

    def registration_by_entity(self, namespace_id: str, entity_id: str) -> Registration | None:
        return self._read("registration_by_entity", namespace_id, entity_id)

    def policy_texts(self, namespace_id: str, names: list[str]) -> dict[str, str]:
        return self._read("policy_texts", namespace_id, tuple(names))

    def membership(
        self, namespace_id: str, entity_id: str, accessor: str, claim_values: tuple[str, ...]
    ) -> Membership:
        """The subject's groups (identity.groups.membership). In the smaller memo: a key may hold a token's
        groups claim."""

        def fetch() -> Membership:
            with self.store.read() as tx:
                return groups.membership(tx, namespace_id, entity_id, accessor, claim_values)

        return self.memo(("membership", namespace_id, entity_id, accessor, claim_values), fetch)


class Directory:
    """Hands out the view for the current generation.

    On SQLite a dedicated read-only connection asks `PRAGMA data_version` first, which changes exactly when
    another connection (any worker, any process) has committed since the last ask; only then is the
    generation row read again.

    On PostgreSQL the generation row is one query per request, unless the store shares the server's newest
    generation with its other workers (storage.changes) and `replica_bound` is above zero: then the query is
    made only when that generation is newer than the view (a change through this server, or one that another
    replica's NOTIFY announced, or that another worker has already read) or `replica_bound` seconds have
    passed since the last query (a change whose notification was lost).
    """

    def __init__(self, store: Store, max_entries: int = 100_000, max_agents: int = 10_000,
                 replica_bound: float = 0.0):  # fmt: skip
        self.store = store
        self.max_entries = max_entries
        self.max_agents = max_agents
        self.replica_bound = replica_bound
        self._view: DirectoryView | None = None
        self._watch = _SqliteCommitWatch.open(store)
        self._node = store.changes if self._watch is None and replica_bound > 0 else None
        self._fresh_until = 0.0  # monotonic time until which other replicas' changes may go unseen
        self._lock = threading.Lock()
        # Moves on each time the SQLite watch finds a commit (any table, any connection); None on PostgreSQL,
        # which has no such signal. Store.read_one keeps rows for one epoch (storage.store.RecentRows).
        self.commit_epoch: int | None = 0 if self._watch is not None else None

    def current(self) -> DirectoryView:
        # One caller at a time (the event loop and the gRPC threads share this): a caller that saw a change
        # must have installed the new view before another caller may conclude that nothing changed.
        with self._lock:
            view = self._view
            if view is not None:
                if self._watch is not None:
                    if not self._watch.changed():
                        return view
                    self.commit_epoch += 1  # type: ignore[operator]  # an int wherever there is a watch
                elif (
                    self._node is not None
                    and time.monotonic() < self._fresh_until
                    and self._node.newest() <= view.generation
                ):
                    return view
            generation = self.store.generation()
            if view is None or view.generation != generation:
                view = self._view = DirectoryView(self.store, generation, self.max_entries, self.max_agents)
            if self._node is not None:
                self._node.advance(generation)  # from now on, no worker of this server serves an older view
                self._fresh_until = time.monotonic() + self.replica_bound
            return view


class _SqliteCommitWatch:
    """Tells whether any connection has committed to the SQLite file since the last call."""

    def __init__(self, connection: sqlite3.Connection):
        self._connection = connection
        self._lock = threading.Lock()
        self._seen: int | None = None

    @classmethod
    def open(cls, store: Store) -> _SqliteCommitWatch | None:
        url = store.engine.url
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return None
        # Read-only and never in a transaction: it must not hold locks or see its own commits.
        connection = sqlite3.connect(
            f"file:{url.database}?mode=ro", uri=True, check_same_thread=False, isolation_level=None
        )
        return cls(connection)

    def changed(self) -> bool:
        with self._lock:
            version = self._connection.execute("PRAGMA data_version").fetchone()[0]
            changed = version != self._seen
            self._seen = version
        return changed
