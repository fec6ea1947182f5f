"""A tiny Vault-shaped HTTP server on loopback, for testing the provider's client without mocks.

Routes answer with canned (status, body) pairs or with a function of the request; every request is
recorded (method, path, headers, JSON body) so tests can assert what actually went over the wire.
The token endpoints and `sys/seal-status` answer like an Enterprise server unless a test overrides them.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


Answer = tuple[int, Any]
Handler = Callable[[Recorded], Answer]


@dataclass
class FakeVault:
    tls: ssl.SSLContext | None = None
    version: str = "2.1.0+ent"
    token_namespace: str = ""
    child_token: str = "child-token"
    routes: dict[tuple[str, str], Handler] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.on("GET", "sys/seal-status", lambda r: (200, {"sealed": False, "version": self.version}))
        self.on(
            "GET",
            "auth/token/lookup-self",
            lambda r: (200, {"data": {"namespace_path": self.token_namespace, "policies": ["root"]}}),
        )
        self.on("POST", "auth/token/create", lambda r: (200, {"auth": {"client_token": self.child_token}}))
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                path = self.path.removeprefix("/v1/")
                record = Recorded(self.command, path, dict(self.headers.items()), body)
                fake.requests.append(record)
                handler = fake.routes.get((self.command, path.split("?")[0])) or fake.routes.get(
                    ("PUT" if self.command == "POST" else "POST", path.split("?")[0])
                )
                status, answer = handler(record) if handler else (404, {"errors": []})
                data = b"" if answer is None else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_LIST = _serve  # noqa: N815 - http.server names

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def on(self, method: str, path: str, handler: Handler | Answer) -> None:
        """Answer `method path` (no /v1/ prefix, no query) with `handler(request)` or a fixed answer."""
        self.routes[(method, path)] = handler if callable(handler) else (lambda r, a=handler: a)

    def sequence(self, method: str, path: str, answers: list[Answer]) -> None:
        """Answer successive requests with successive answers (the last one repeats)."""
        remaining = list(answers)

        def next_answer(request: Recorded) -> Answer:
            return remaining.pop(0) if len(remaining) > 1 else remaining[0]

        self.on(method, path, next_answer)

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.split("?")[0] == path]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
