"""A TCP proxy in front of FabriX (the emulator) that can refuse connections or answer slowly.

    proxy = FaultProxy(emulator_port)      # listens on a free loopback port: proxy.url
    proxy.refuse()                          # nothing listens there any more, open connections are cut
    proxy.accept(first_byte=3, per_read=0.05)   # listening again on the same port, answering slowly
    proxy.accept()                          # and at full speed

It runs its own event loop in a thread, so the tests and the benchmarks (which have their own
loops, or none) drive it with plain calls. Loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from dataclasses import dataclass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Slowness:
    first_byte: float = 0.0  # seconds each response's first byte is held back
    per_read: float = 0.0  # seconds added before each later piece of the response is passed on


class FaultProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = _free_port()
        self.slowness = Slowness()
        self.connections = 0  # accepted since the start
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.Task] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        self._call(self._listen())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def refusing(self) -> bool:
        return self._server is None

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)

    async def _refuse(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._open):
            task.cancel()
        await asyncio.gather(*self._open, return_exceptions=True)

    def refuse(self) -> None:
        """Connections to the port are refused from now on; those open are cut (FabriX went down)."""
        self._call(self._refuse())

    def accept(self, *, first_byte: float = 0.0, per_read: float = 0.0) -> None:
        """Listen again (on the same port), answering with the given slowness (none by default)."""
        self.slowness = Slowness(first_byte, per_read)
        self._call(self._listen())

    def close(self) -> None:
        self._call(self._refuse())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._open.add(task)
        self.connections += 1
        upstream_writer = None
        asked = asyncio.Event()  # a request went up since the last response began: hold its first byte
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
            await asyncio.gather(
                self._requests(client_reader, upstream_writer, asked),
                self._responses(upstream_reader, client_writer, asked, self.slowness),
            )
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._open.discard(task)
            for writer in (client_writer, upstream_writer):
                if writer is not None:
                    with contextlib.suppress(Exception):
                        writer.transport.abort()

    @staticmethod
    async def _requests(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, asked: asyncio.Event) -> None:
        while data := await reader.read(1 << 16):
            asked.set()
            writer.write(data)
            await writer.drain()
        with contextlib.suppress(Exception):
            writer.write_eof()

    @staticmethod
    async def _responses(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, asked: asyncio.Event, slowness: Slowness
    ) -> None:
        while data := await reader.read(1 << 16):
            delay = slowness.first_byte if asked.is_set() else slowness.per_read
            asked.clear()
            if delay:
                await asyncio.sleep(delay)
            writer.write(data)
            await writer.drain()
        with contextlib.suppress(Exception):
            writer.write_eof()
