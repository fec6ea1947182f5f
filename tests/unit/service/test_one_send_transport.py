"""service/http_protocol.py `_OneSendTransport`: what uvicorn writes in one turn of the event loop (a response's
head, then its body) reaches the socket in one write, in order, and nothing held is lost or sent late."""

from __future__ import annotations

import asyncio

from vaultguard.service.http_protocol import _OneSendTransport


class RecordingTransport:
    """Stands in for the socket's transport: records what it is asked to do."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes]] = []
        self.buffered = 0

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def close(self) -> None:
        self.calls.append(("close", b""))

    def abort(self) -> None:
        self.calls.append(("abort", b""))

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def run(steps) -> RecordingTransport:  # noqa: ANN001 - a function of the transport
    async def scenario() -> RecordingTransport:
        real = RecordingTransport()
        await steps(_OneSendTransport(real, asyncio.get_running_loop()), real)
        await asyncio.sleep(0)  # one more turn: whatever is still held is flushed
        return real

    return asyncio.run(scenario())


def test_a_head_and_a_body_written_in_one_turn_leave_in_one_write():
    async def steps(transport, real):
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        transport.write(b"{}")
        assert real.calls == [], "nothing is sent before the turn ends"

    assert run(steps).calls == [("write", b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")]


def test_writes_of_separate_turns_leave_separately_and_in_order():
    async def steps(transport, real):
        transport.write(b"one")
        await asyncio.sleep(0)
        transport.writelines([b"two", b"three"])

    assert run(steps).calls == [("write", b"one"), ("write", b"twothree")]


def test_close_sends_what_is_held_before_closing():
    async def steps(transport, real):
        transport.write(b"HTTP/1.1 431 \r\n\r\n")
        transport.close()
        assert real.calls == [("write", b"HTTP/1.1 431 \r\n\r\n"), ("close", b"")]

    assert run(steps).calls == [("write", b"HTTP/1.1 431 \r\n\r\n"), ("close", b"")]


def test_abort_drops_what_is_held():
    async def steps(transport, real):
        transport.write(b"never sent")
        transport.abort()

    assert run(steps).calls == [("abort", b"")]


def test_the_write_buffer_size_counts_held_bytes_and_the_rest_is_the_transports():
    async def steps(transport, real):
        real.buffered = 10
        transport.write(b"12345")
        assert transport.get_write_buffer_size() == 15
        assert transport.get_extra_info("peername") == "info:peername"

    run(steps)
