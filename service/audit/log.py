"""The server's audit log: its devices and its HMAC key, and the failure rule's two errors.

Transport-neutral: the HTTP middleware (api.audit_middleware) and the gRPC server write through the same
log, with the entries access.audit_trail builds.
"""

from __future__ import annotations

import threading
from typing import Any

from ..errors import ApiError
from ..memo import BoundedMemo
from ..storage.store import Store
from . import entry as e
from .devices import Broker, device_from_settings
from .hashing import Hasher
from .key import load_or_create_key

REQUEST_NOT_SERVED = "audit logging failed; the request was not served"
RESPONSE_WITHHELD = "audit logging failed; the response was withheld"
MAX_AGENT_BLOCKS = 1024  # a few KiB each (tens of KiB with an 8 KiB token): bounded, whatever agents send


class AuditFailed(ApiError):
    """No audit device took the request entry: the request must not be served (503)."""

    def __init__(self) -> None:
        super().__init__(503, REQUEST_NOT_SERVED)


class AuditLog:
    """The server's audit devices and its HMAC key (read from storage on first use, per process)."""

    def __init__(self, store: Store, devices: list):
        self.store = store
        self.broker = Broker(devices)
        self._hasher: Hasher | None = None
        self._lock = threading.Lock()
        # (agent caller, decision) -> (caller, decision, auth block, its JSON); see access.audit_trail.
        self.agent_blocks: BoundedMemo[tuple[int, int], tuple[Any, Any, dict[str, Any], str]] = BoundedMemo(
            MAX_AGENT_BLOCKS
        )

    @classmethod
    def from_settings(cls, settings: Any, store: Store) -> AuditLog:
        return cls(store, [device_from_settings(spec) for spec in settings.audit_devices])

    @property
    def enabled(self) -> bool:
        return bool(self.broker)

    def hasher(self) -> Hasher:
        if self._hasher is None:
            with self._lock:
                if self._hasher is None:
                    self._hasher = Hasher(load_or_create_key(self.store))
        return self._hasher

    def write(self, *entries: dict[str, Any], memo: dict | None = None) -> bool:
        return self.broker.write(e.encode(*entries, memo=memo))
