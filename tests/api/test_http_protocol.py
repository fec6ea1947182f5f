"""The server's HTTP/1.1 parsing (service/http_protocol.py) over raw sockets: Vault's `LIST` method wherever a
request can start (fresh or kept-alive connection, pipelined, split across reads), never where it cannot (a
header, a body), and the bound on the request head."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import vgtest
from vaultguard.service.http_protocol import MAX_HEAD_BYTES

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)", re.IGNORECASE)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[vgtest.Server]:
    work: Path = tmp_path_factory.mktemp("http")
    srv = vgtest.Server("sqlite:///" + str(work / "vaultguard.db"), work, workers=1).start()
    try:
        admin = srv.client()
        for name in ("alpha", "beta"):
            resp = admin.post(f"sys/policies/acl/{name}", json={"policy": 'path "x/*" { capabilities = ["read"] }'})
            assert resp.status_code in (200, 204), resp.text
        yield srv
    finally:
        srv.stop()


class Conn:
    """One raw keep-alive connection; `send` writes bytes as given, `answers(n)` reads n whole responses."""

    def __init__(self, server: vgtest.Server):
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        self.buffer = b""
        self.token = server.root_token

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, method: str, path: str, body: bytes = b"", extra: str = "") -> bytes:
        head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nX-Vault-Token: {self.token}\r\n{extra}"
        if body:
            head += f"Content-Length: {len(body)}\r\nContent-Type: application/json\r\n"
        return head.encode() + b"\r\n" + body

    def answers(self, count: int) -> list[tuple[int, bytes, bytes]]:
        """(status, head, body) of the next `count` responses."""
        out = []
        while len(out) < count:
            end = self.buffer.find(b"\r\n\r\n")
            match = _CONTENT_LENGTH.search(self.buffer[:end]) if end >= 0 else None
            no_body = end >= 0 and self.buffer[9:12] == b"204"
            if (match or no_body) and len(self.buffer) >= end + 4 + (int(match.group(1)) if match else 0):
                size = end + 4 + (int(match.group(1)) if match else 0)
                head, body = self.buffer[:end], self.buffer[end + 4 : size]
                out.append((int(head[9:12]), head, body))
                self.buffer = self.buffer[size:]
                continue
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed after {len(out)} answers; unread {self.buffer[:200]!r}")
            self.buffer += chunk
        return out

    def closed(self) -> bool:
        """True when the server closed the connection (after any answer already read)."""
        try:
            return self.sock.recv(65536) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def conn(server: vgtest.Server) -> Iterator[Conn]:
    c = Conn(server)
    yield c
    c.close()


def keys(answer: tuple[int, bytes, bytes]) -> list[str]:
    status, _head, body = answer
    assert status == 200, body
    return json.loads(body)["data"]["keys"]


def test_list_on_a_fresh_connection(conn: Conn) -> None:
    conn.send(conn.request("LIST", "/v1/sys/policies/acl"))
    assert {"alpha", "beta"} <= set(keys(conn.answers(1)[0]))


def test_list_after_other_requests_on_the_same_connection(conn: Conn) -> None:
    conn.send(conn.request("GET", "/v1/sys/policies/acl/alpha"))
    [(status, _, body)] = conn.answers(1)
    assert status == 200 and json.loads(body)["data"]["name"] == "alpha"
    conn.send(conn.request("LIST", "/v1/sys/policies/acl"))
    assert "alpha" in keys(conn.answers(1)[0])
    # and a GET after the LIST is a GET again (the method is not carried over)
    conn.send(conn.request("GET", "/v1/sys/policies/acl/beta"))
    [(status, _, body)] = conn.answers(1)
    assert status == 200 and json.loads(body)["data"]["name"] == "beta"


def test_pipelined_requests_keep_their_own_methods(conn: Conn) -> None:
    conn.send(
        conn.request("GET", "/v1/sys/policies/acl/alpha")
        + conn.request("LIST", "/v1/sys/policies/acl")
        + conn.request("GET", "/v1/sys/policies/acl/beta")
        + conn.request("LIST", "/v1/sys/policies/acl")
    )
    first, second, third, fourth = conn.answers(4)
    assert json.loads(first[2])["data"]["name"] == "alpha"
    assert "beta" in keys(second)
    assert json.loads(third[2])["data"]["name"] == "beta"
    assert keys(fourth) == keys(second)


@pytest.mark.parametrize("split", [1, 2, 3, 4, 5, 6])
def test_list_split_across_reads(conn: Conn, split: int) -> None:
    """The method arrives in pieces (after a GET on the same connection, so also mid-stream)."""
    raw = conn.request("GET", "/v1/sys/policies/acl/alpha") + conn.request("LIST", "/v1/sys/policies/acl")
    at = raw.index(b"LIST ") + split - 1 if split <= 5 else raw.index(b"LIST ") + 20
    conn.send(raw[:at])
    time.sleep(0.05)  # two separate reads on the server
    conn.send(raw[at:])
    first, second = conn.answers(2)
    assert first[0] == 200
    assert "alpha" in keys(second)


def test_list_one_byte_at_a_time(conn: Conn) -> None:
    for byte in conn.request("LIST", "/v1/sys/policies/acl"):
        conn.send(bytes([byte]))
    assert "alpha" in keys(conn.answers(1)[0])


def test_list_text_in_a_header_or_a_body_is_left_alone(conn: Conn) -> None:
    """A body holding what looks like a LIST request is stored as data, not run as a request."""
    smuggled = "x\r\n\r\nLIST /v1/sys/policies/acl HTTP/1.1\r\nHost: x\r\n\r\n"
    body = json.dumps({"policy": f'path "x/*" {{ capabilities = ["read"] }} # {smuggled!r}'}).encode()
    conn.send(
        conn.request("POST", "/v1/sys/policies/acl/gamma", body=body, extra="X-Note: LIST /v1/sys/policies\r\n")
        + conn.request("GET", "/v1/sys/policies/acl/gamma")
    )
    written, read = conn.answers(2)
    assert written[0] == 204, written
    assert read[0] == 200 and "LIST /v1/sys/policies/acl" in json.loads(read[2])["data"]["policy"]
    conn.send(conn.request("GET", "/v1/sys/policies/acl/alpha"))
    assert conn.answers(1)[0][0] == 200  # nothing else was queued on the connection


@pytest.mark.parametrize("method", ["LISTEN", "LIS", "FOO"])
def test_unknown_methods_are_a_plain_400(conn: Conn, method: str) -> None:
    conn.send(conn.request(method, "/v1/sys/policies/acl"))
    [(status, head, _body)] = conn.answers(1)
    assert status == 400 and b"text/plain" in head.lower()
    assert conn.closed()


def test_a_head_over_the_limit_is_431_and_the_connection_closes(conn: Conn) -> None:
    filler = "a" * 4000
    headers = "".join(f"X-Filler-{i}: {filler}\r\n" for i in range(MAX_HEAD_BYTES // 4000 + 2))
    conn.send(conn.request("GET", "/v1/sys/policies/acl/alpha", extra=headers))
    [(status, head, body)] = conn.answers(1)
    assert status == 431 and b"text/plain" in head.lower()
    assert body == f"request head larger than {MAX_HEAD_BYTES} bytes".encode()
    assert conn.closed()


def test_one_endless_header_is_cut_off_near_the_limit(conn: Conn) -> None:
    """A header that never ends is refused once the limit is passed, not buffered without bound."""
    conn.send(conn.request("GET", "/v1/sys/health", extra="X-Endless: ")[:-2])
    sent = 0
    try:
        while sent < 32 * MAX_HEAD_BYTES:
            conn.send(b"b" * 8192)
            sent += 8192
            time.sleep(0.002)  # paced, so the client's socket buffer cannot swallow it all before the server reads
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert sent < 32 * MAX_HEAD_BYTES, "the server kept reading a head 32 times the limit"
    try:
        [(status, _head, _body)] = conn.answers(1)
        assert status == 431
    except (ConnectionError, OSError):
        pass  # the reset may beat the answer to the client; either way the server stopped reading


def test_a_head_just_under_the_limit_is_served(conn: Conn) -> None:
    filler = "a" * 4000
    headers = "".join(f"X-Filler-{i}: {filler}\r\n" for i in range(MAX_HEAD_BYTES // 4000 - 2))
    conn.send(conn.request("GET", "/v1/sys/policies/acl/alpha", extra=headers))
    [(status, _head, body)] = conn.answers(1)
    assert status == 200, body
    # large bodies are not heads: a 200 KiB write on the same connection is fine
    big = json.dumps({"policy": 'path "x/*" { capabilities = ["read"] } #' + "c" * 200_000}).encode()
    conn.send(conn.request("POST", "/v1/sys/policies/acl/big", body=big))
    assert conn.answers(1)[0][0] == 204
