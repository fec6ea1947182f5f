"""The HTTP/1.1 protocol the server runs: uvicorn's httptools (llhttp) protocol, taught Vault's `LIST` method
and given a bound on the request head.

llhttp rejects methods it does not know, and Vault clients send `LIST`. Parsing every request with h11
instead cost about 100 µs more per request (measured with tests/bench/bench_http.py), a quarter of an
agent's KV read. So a request line that starts with `LIST ` where a new message starts is handed to the
parser as `GET `, and the method is put back into the ASGI scope before the application sees it. Message
boundaries come from the parser's own callbacks, so a `LIST ` inside a header or a body is never touched.

llhttp sets no limit on the size of a request head (h11 stopped at 16 KiB). Here a head larger than
`MAX_HEAD_BYTES` is answered with 431 and the connection is closed, counted from the parser's callbacks for
the parts it has finished and from whole reads for a part still arriving, so at most a read or two past the
limit is ever buffered.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024  # request line and headers; the 8 KiB token cap (DECISIONS.md#d17) fits with room to spare
_LIST = b"LIST "
_LIST_PREFIXES = (b"L", b"LI", b"LIS", b"LIST")  # a read may end inside the method
TLS_CLOSE_GRACE = 2.0  # seconds a closing TLS connection may wait for the peer's close_notify during a stop


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head past the limit."""


class _OneSendTransport:
    """The connection's transport, except that the writes of one turn of the event loop leave in one send.

    uvicorn writes a response's head and its body separately: two system calls, and two segments for the
    client to read. One send took `sys/health` from about 70 to 58 µs of server CPU (tests/bench/bench_http.py).
    What is held goes out at the end of the turn, or before a close; an abort drops it, as it drops the
    transport's own buffer."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._held:
            self._loop.call_soon(self._flush)
        self._held.append(data)

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def _flush(self) -> None:
        if self._held:
            data = b"".join(self._held)
            self._held.clear()
            self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held.clear()
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._held))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class VaultHttpProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._between_messages = True  # the next byte the parser sees starts a request
        self._list_request = False  # the request being parsed was sent as LIST
        self._held = b""  # the start of a request that may yet turn out to be `LIST `
        # The head being parsed: its parsed parts (request target, complete headers) and the reads that fell
        # wholly inside it (which also cover a header that never ends). Either over the limit refuses it.
        self._in_head = False
        self._messages = 0
        self._head_parsed = 0
        self._head_read = 0
        self._head_too_large = False  # set by a callback that stops the parser, for send_400_response

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_OneSendTransport(transport, self.loop))  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        if self._held:
            data, self._held = self._held + data, b""
        while data:
            if self._between_messages:
                if data.startswith(_LIST):
                    self._list_request = True
                    data = b"GET " + data[len(_LIST) :]
                elif _LIST.startswith(data):
                    self._held = data
                    return
            # Feed up to the next place a `LIST ` could start a request, so the parser says whether it does.
            cut = data.find(_LIST, 1)
            if cut < 0 and data.endswith(_LIST_PREFIXES):
                cut = max(1, data.rfind(b"L", len(data) - len(_LIST_PREFIXES[-1])))
            if cut < 0:
                self._feed(data)
                return
            if not self._feed(data[:cut]):
                return
            data = data[cut:]

    def _feed(self, data: bytes) -> bool:
        """Parse `data`; False when the connection is being closed (a refused request)."""
        inside, message = self._in_head, self._messages
        super().data_received(data)  # a parser error ends in send_400_response
        if self.transport.is_closing() or self.transport.get_protocol() is not self:  # refused, or upgraded
            return False
        if inside and self._in_head and message == self._messages:
            self._head_read += len(data)
            if self._head_read > MAX_HEAD_BYTES:
                self._send_431_response()
                return False
        return True

    def shutdown(self) -> None:
        """The server is stopping: uvicorn closes an idle connection and lets one in flight finish."""
        super().shutdown()
        if self.transport.get_extra_info("ssl_object") is not None:
            self._abort_unanswered_close(closing_since_last_look=False)

    def _abort_unanswered_close(self, closing_since_last_look: bool) -> None:
        """Abort the connection once it has been closing for a whole grace period; look again until then."""
        if self not in self.connections:  # closed
            return
        if closing_since_last_look:
            self.transport.abort()
            return
        self.loop.call_later(TLS_CLOSE_GRACE, self._abort_unanswered_close, self.transport.is_closing())

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to any parser error, _HeadTooLarge from our callbacks included."""
        if self._head_too_large:
            self._send_431_response()
        else:
            super().send_400_response(msg)

    def _send_431_response(self) -> None:
        message = f"request head larger than {MAX_HEAD_BYTES} bytes".encode("ascii")
        self.transport.write(
            b"".join(
                [
                    STATUS_LINE[431],
                    b"content-type: text/plain; charset=utf-8\r\n",
                    b"content-length: %d\r\n" % len(message),
                    b"connection: close\r\n\r\n",
                    message,
                ]
            )
        )
        self.transport.close()

    def _count_head(self, size: int) -> None:
        self._head_parsed += size
        if self._head_parsed > MAX_HEAD_BYTES:
            self._head_too_large = True
            raise _HeadTooLarge

    # Parser callbacks

    def on_message_begin(self) -> None:
        self._between_messages = False
        self._in_head = True
        self._messages += 1
        self._head_parsed = self._head_read = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)  # with ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()
        if self._list_request:
            # The request task has been created but not run yet; it reads the method from this scope.
            self._list_request = False
            self.scope["method"] = "LIST"

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._between_messages = True
