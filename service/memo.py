"""A bounded memo: remembered results that are all forgotten at once when the memo is full.

The agent hot path remembers what it computed (header verdicts, compiled ACLs, resolved agents, decisions,
audit blocks) under keys that name everything the result depends on: the exact content, or the storage
generation (docs/design/DECISIONS.md#d54). The bound keeps a flood of distinct keys (new tokens, forged
headers) from growing memory; emptying the whole memo when it is full costs nothing on a hit, unlike LRU
bookkeeping, and a real deployment's working set refills it at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_MISSING = object()


class BoundedMemo(Generic[K, V]):
    """At most `limit` entries; storing one more first forgets them all.

    `get` is the dict's own method (no Python frame on the hot path); `put` and `remember` store under a
    lock, so concurrent threads never push the memo past its bound.
    """

    __slots__ = ("limit", "get", "_items", "_lock")

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError("a bounded memo needs room for at least one entry")
        self.limit = limit
        self._items: dict[K, V] = {}
        self._lock = threading.Lock()
        self.get = self._items.get  # stays valid: the dict is emptied in place, never replaced

    def put(self, key: K, value: V) -> V:
        """Store `value` (forgetting everything first when full) and return it."""
        with self._lock:
            if len(self._items) >= self.limit:
                self._items.clear()
            self._items[key] = value
        return value

    def remember(self, key: K, build: Callable[[], V]) -> V:
        """The value stored under `key`, built and stored on a miss (`None` is a value like any other)."""
        value = self._items.get(key, _MISSING)
        if value is _MISSING:
            value = self.put(key, build())
        return value  # type: ignore[return-value]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items
