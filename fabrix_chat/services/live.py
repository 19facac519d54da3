"""Where running answers can be found from any worker: their text so far and their stop flags.

In one process (no `redis_url`) this is a dict. With Redis, the worker running an answer appends
what arrived to a Redis string about once a BOARD_INTERVAL (`APPEND`: bytes written grow with
the answer, not with its square), next to the number of its last batch, so a tab that reloads
onto another worker gets the whole text so far and the batch number to continue from.

Stop pressed on any worker sets a flag and publishes the answer's id on a channel; each worker
has one subscriber (`_StopListener`) that wakes the answers it runs at once. A worker that
(re)subscribes, and an answer that starts, also read the flags, so a Stop published while nobody
listened is not lost; nothing is polled while an answer runs.

The board is bookkeeping around an answer, never its truth (the database is): when Redis fails,
the answer goes on and the failure is logged once per answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

KEEP_SECONDS = 3600  # a running answer's keys outlive any answer; deleted when it ends
BOARD_INTERVAL = 1.0  # seconds between writes of a running answer's text to a shared board
RESUBSCRIBE_SECONDS = 5.0  # how long the Stop listener waits before subscribing again after a failure
LISTEN_TIMEOUT_SECONDS = 30.0  # the listener's connection is checked (PING) at least this often


@dataclass(frozen=True)
class Snapshot:
    """A running answer as the board has it: its text so far and the number of the last batch in it."""

    part: int
    text: str
    status: str


class Board(Protocol):
    shared: bool  # True when other processes see it (Redis)

    async def add(self, message_id: int, part: int, added: str, status: str, *, first: bool = False) -> None:
        """Text added up to batch `part`; `first`: the answer's first write (its keys get their expiry)."""

    async def read(self, message_id: int) -> Snapshot | None: ...
    async def finish(self, message_id: int) -> None: ...
    async def request_stop(self, message_id: int) -> None: ...
    async def stop_requested(self, message_id: int) -> bool: ...

    async def watch_stop(self, message_id: int, stop: asyncio.Event) -> None:
        """Set `stop` when Stop is pressed for this answer on any worker, also if it already was;
        until `finish`."""


class MemoryBoard:
    shared = False

    def __init__(self) -> None:
        self._answers: dict[int, Snapshot] = {}
        self._stops: set[int] = set()
        self._watched: dict[int, asyncio.Event] = {}

    async def add(self, message_id: int, part: int, added: str, status: str, *, first: bool = False) -> None:
        before = self._answers.get(message_id)
        self._answers[message_id] = Snapshot(part, (before.text if before else "") + added, status)

    async def read(self, message_id: int) -> Snapshot | None:
        return self._answers.get(message_id)

    async def finish(self, message_id: int) -> None:
        self._answers.pop(message_id, None)
        self._stops.discard(message_id)
        self._watched.pop(message_id, None)

    async def request_stop(self, message_id: int) -> None:
        self._stops.add(message_id)
        if (stop := self._watched.get(message_id)) is not None:
            stop.set()

    async def stop_requested(self, message_id: int) -> bool:
        return message_id in self._stops

    async def watch_stop(self, message_id: int, stop: asyncio.Event) -> None:
        self._watched[message_id] = stop
        if message_id in self._stops:
            stop.set()


class RedisBoard:
    shared = True

    def __init__(self, url: str, prefix: str = "fabrix:live:") -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        self._prefix = prefix
        self._listener = _StopListener(
            self,
            Redis.from_url(url, socket_connect_timeout=3, health_check_interval=LISTEN_TIMEOUT_SECONDS),
            f"{prefix}stop",
        )

    def _keys(self, message_id: int) -> tuple[str, str, str]:
        base = f"{self._prefix}{message_id}"
        return f"{base}:text", f"{base}:head", f"{base}:stop"

    async def add(self, message_id: int, part: int, added: str, status: str, *, first: bool = False) -> None:
        text_key, head_key, _ = self._keys(message_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.append(text_key, added.encode())
            pipe.set(head_key, f"{part}\n{status}".encode(), ex=KEEP_SECONDS)
            if first:
                pipe.expire(text_key, KEEP_SECONDS)
            await pipe.execute()

    async def read(self, message_id: int) -> Snapshot | None:
        text_key, head_key, _ = self._keys(message_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(head_key)
            pipe.get(text_key)
            head, text = await pipe.execute()
        if head is None:
            return None
        part, _, status = head.decode().partition("\n")
        return Snapshot(int(part), (text or b"").decode(errors="replace"), status)

    async def finish(self, message_id: int) -> None:
        self._listener.forget(message_id)
        await self._redis.delete(*self._keys(message_id))

    async def request_stop(self, message_id: int) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(self._keys(message_id)[2], b"1", ex=KEEP_SECONDS)
            pipe.publish(self._listener.channel, str(message_id).encode())
            await pipe.execute()

    async def stop_requested(self, message_id: int) -> bool:
        return bool(await self._redis.exists(self._keys(message_id)[2]))

    async def watch_stop(self, message_id: int, stop: asyncio.Event) -> None:
        self._listener.watch(message_id, stop)  # first: a Stop published from now on wakes it
        if await self.stop_requested(message_id):  # one pressed before
            stop.set()

    async def close(self) -> None:
        await self._listener.close()
        await self._redis.aclose()


class _StopListener:
    """One subscription per worker to the Stop channel, waking the answers this worker runs."""

    def __init__(self, board: RedisBoard, redis, channel: str) -> None:
        self._board = board
        self._redis = redis  # its own connection: a subscriber blocks reading
        self.channel = channel
        self._watched: dict[int, asyncio.Event] = {}
        self._task: asyncio.Task | None = None

    def watch(self, message_id: int, stop: asyncio.Event) -> None:
        self._watched[message_id] = stop
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._listen(), name="live-board-stop-listener")

    def forget(self, message_id: int) -> None:
        self._watched.pop(message_id, None)

    async def _listen(self) -> None:
        while True:
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.channel)
                    await self._read_flags()  # a Stop published while nobody listened
                    while True:
                        message = await pubsub.get_message(timeout=LISTEN_TIMEOUT_SECONDS)
                        if message is not None:
                            self._wake(message["data"])
            except Exception as exc:
                log.warning(
                    "live board: listening for Stop failed (%s); subscribing again in %s s", exc, RESUBSCRIBE_SECONDS
                )
                await asyncio.sleep(RESUBSCRIBE_SECONDS)

    async def _read_flags(self) -> None:
        for message_id, stop in list(self._watched.items()):
            if await self._board.stop_requested(message_id):
                stop.set()

    def _wake(self, data: bytes) -> None:
        try:
            message_id = int(data)
        except ValueError:
            log.warning("live board: ignored a Stop message that is not an answer id: %r", data[:40])
            return
        if (stop := self._watched.get(message_id)) is not None:
            stop.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._redis.aclose()


_board: Board | None = None


def get_board() -> Board:
    global _board
    if _board is None:
        from fabrix_chat.config import get_settings

        url = get_settings().rate_limit.redis_url
        _board = RedisBoard(url) if url else MemoryBoard()
    return _board


def set_board(board: Board | None) -> None:
    """Tests: use this board (None: the configured one again)."""
    global _board
    _board = board
