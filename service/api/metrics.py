"""Prometheus metrics: request counts and latency by route area, safe across worker processes."""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from .audit_middleware import RECORD

REQUESTS = Counter("vaultguard_http_requests", "HTTP requests handled", ["area", "method", "status"])
LATENCY = Histogram(
    "vaultguard_http_request_seconds",
    "HTTP request latency",
    ["area"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
AGENT_DECISIONS = Counter(
    "vaultguard_agent_decisions",
    "Agent requests decided, by outcome, the layer that denied and the stable reason code",
    ["decision", "layer", "reason"],
)
_AREAS = ("secret", "agent-registry", "sys/config/oauth-resource-server", "identity", "sys/policies", "sys/policy",
          "sys/namespaces", "auth/token", "sys")  # fmt: skip


def area(path: str) -> str:
    """A small, fixed label set (never the raw path, which would explode cardinality)."""
    for prefix in _AREAS:
        if path.startswith(prefix):
            return prefix
    return "other"


_children: dict[tuple, Any] = {}


def _child(metric: Any, *labels: Any) -> Any:
    """`metric.labels(*labels)`, remembered: prometheus_client's lookup (string conversion, validation, a
    lock) cost more than the counting itself on every request. Label sets are small and fixed."""
    key = (metric, *labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*(str(label) for label in labels))
    return child


class MetricsMiddleware:
    def __init__(self, app):  # noqa: ANN001
        self.app = app

    async def __call__(self, scope, receive, send):  # noqa: ANN001
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = {"code": 500}

        async def capture(message):  # noqa: ANN001, ANN202
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            state = scope.get("state", {})
            label = area(state.get("vg_path", scope["path"].removeprefix("/v1/")))
            _child(REQUESTS, label, scope["method"], status["code"]).inc()
            _child(LATENCY, label).observe(time.perf_counter() - start)
            record = state.get(RECORD)  # the request's AccessRecord
            decision = record.decision if record is not None else None
            if decision is not None:  # an agent's request; reason codes are a fixed set (authz.decision)
                _child(AGENT_DECISIONS, "allow" if decision.allowed else "deny", decision.layer, decision.reason).inc()
            # The request's state links its Context and Request back to the scope, a reference cycle; cleared
            # here (the outermost layer, after the answer) it is freed at once instead of by the cycle collector.
            state.clear()


def render() -> tuple[bytes, str]:
    """Metrics text; merges every worker's samples when running with several workers."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
