"""Where running answers can be found from any worker: their text so far and their stop flags.

In one process (no `redis_url`) this is a dict. With Redis every batch of an answer is appended
to a Redis string (`APPEND`: bytes written grow with the answer, not with its square), next to
the number of its last batch, so a tab that reloads onto another worker gets the whole text and
the batch number to continue from; and Stop pressed on any worker sets a flag that the worker
running the answer reads at least every STOP_POLL_SECONDS.

The board is bookkeeping around an answer, never its truth (the database is): when Redis fails,
the answer goes on and the failure is logged once per answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

KEEP_SECONDS = 3600  # a running answer's keys outlive any answer; deleted when it ends
STOP_POLL_SECONDS = 0.25  # how often an answer running here looks for a Stop pressed elsewhere
FAILING_POLL_SECONDS = 5.0  # and how often while Redis is failing


@dataclass(frozen=True)
class Snapshot:
    """A running answer as the board has it: its text so far and the number of the last batch in it."""

    part: int
    text: str
    status: str


class Board(Protocol):
    shared: bool  # True when other processes see it (Redis)

    async def add(self, message_id: int, part: int, added: str, status: str) -> None: ...
    async def read(self, message_id: int) -> Snapshot | None: ...
    async def finish(self, message_id: int) -> None: ...
    async def request_stop(self, message_id: int) -> None: ...
    async def stop_requested(self, message_id: int) -> bool: ...


class MemoryBoard:
    shared = False

    def __init__(self) -> None:
        self._answers: dict[int, Snapshot] = {}
        self._stops: set[int] = set()

    async def add(self, message_id: int, part: int, added: str, status: str) -> None:
        before = self._answers.get(message_id)
        self._answers[message_id] = Snapshot(part, (before.text if before else "") + added, status)

    async def read(self, message_id: int) -> Snapshot | None:
        return self._answers.get(message_id)

    async def finish(self, message_id: int) -> None:
        self._answers.pop(message_id, None)
        self._stops.discard(message_id)

    async def request_stop(self, message_id: int) -> None:
        self._stops.add(message_id)

    async def stop_requested(self, message_id: int) -> bool:
        return message_id in self._stops


class RedisBoard:
    shared = True

    def __init__(self, url: str, prefix: str = "fabrix:live:") -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        self._prefix = prefix

    def _keys(self, message_id: int) -> tuple[str, str, str]:
        base = f"{self._prefix}{message_id}"
        return f"{base}:text", f"{base}:head", f"{base}:stop"

    async def add(self, message_id: int, part: int, added: str, status: str) -> None:
        text_key, head_key, _ = self._keys(message_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.append(text_key, added.encode())
            pipe.set(head_key, f"{part}\n{status}".encode(), ex=KEEP_SECONDS)
            pipe.expire(text_key, KEEP_SECONDS)  # also when the first batch's write failed
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
        await self._redis.delete(*self._keys(message_id))

    async def request_stop(self, message_id: int) -> None:
        await self._redis.set(self._keys(message_id)[2], b"1", ex=KEEP_SECONDS)

    async def stop_requested(self, message_id: int) -> bool:
        return bool(await self._redis.exists(self._keys(message_id)[2]))

    async def close(self) -> None:
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
