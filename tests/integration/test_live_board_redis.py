"""The live board in a real Redis (services/live.RedisBoard): what one worker writes about a running
answer another reads whole, Stop pressed on one worker ends the answer running on another, and
nothing is left behind.

Two workers are simulated in one process by two RedisBoard instances (two connections), each
answer task seeing its own worker's board; Stop goes through the *other* board, as it does when
the tab's event lands on a worker that is not running the answer.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import pytest_asyncio
from redis.asyncio import Redis
from sqlmodel import Session

from fabrix_chat.config import get_settings
from fabrix_chat.db import run_db
from fabrix_chat.emulator import AGENTS, EmulatorHandle, start_in_thread
from fabrix_chat.fabrix import client as client_module
from fabrix_chat.fabrix.client import FabrixClient, make_http_client
from fabrix_chat.fabrix.limiter import RateLimiter
from fabrix_chat.models import Message, User
from fabrix_chat.services import answers, live
from fabrix_chat.services import chat as chat_service
from fabrix_chat.services.live import RedisBoard, Snapshot
from tests.redis_server import redis_server

pytestmark = pytest.mark.asyncio

AGENT = AGENTS[0]["agentId"]


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server("live board test skipped") as port:
        yield f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def prefix() -> str:
    """Keys of this test only, so one test's leftovers cannot pass or fail another."""
    return f"test:{uuid.uuid4().hex[:8]}:live:"


@pytest_asyncio.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@dataclass
class Workers:
    a: RedisBoard
    b: RedisBoard


@pytest_asyncio.fixture
async def workers(redis_url: str, prefix: str) -> AsyncIterator[Workers]:
    both = Workers(RedisBoard(redis_url, prefix=prefix), RedisBoard(redis_url, prefix=prefix))
    yield both
    await both.a.close()
    await both.b.close()


async def keys(redis: Redis, prefix: str) -> list[bytes]:
    return sorted([key async for key in redis.scan_iter(match=f"{prefix}*")])


# --- the board itself -------------------------------------------------------------------------


async def test_what_one_worker_adds_another_reads_whole_korean_included(workers) -> None:
    assert await workers.b.read(7) is None  # nothing runs yet
    await workers.a.add(7, 1, "", "문서를 검색하는 중…")
    assert await workers.b.read(7) == Snapshot(1, "", "문서를 검색하는 중…")
    await workers.a.add(7, 2, "안녕하세요, ", "")
    await workers.a.add(7, 3, "세계 🌏! ", "")
    await workers.a.add(7, 4, "ünïcödé ✓", "다음 단계")
    assert await workers.b.read(7) == Snapshot(4, "안녕하세요, 세계 🌏! ünïcödé ✓", "다음 단계")
    assert await workers.b.read(8) is None  # another answer is not mixed in


async def test_stop_pressed_on_one_worker_is_seen_by_the_other(workers) -> None:
    assert not await workers.a.stop_requested(7)
    await workers.b.request_stop(7)
    assert await workers.a.stop_requested(7)
    assert not await workers.a.stop_requested(8)


async def test_a_stop_wakes_the_answer_on_the_other_worker_at_once_also_one_pressed_before(workers) -> None:
    pressed_before, running = asyncio.Event(), asyncio.Event()
    await workers.b.request_stop(7)
    await workers.a.watch_stop(7, pressed_before)
    assert pressed_before.is_set()  # pressed before the answer started on worker A

    await workers.a.watch_stop(8, running)
    await asyncio.sleep(0.2)  # the listener has subscribed
    assert not running.is_set()
    pressed = time.monotonic()
    await workers.b.request_stop(8)
    await asyncio.wait_for(running.wait(), 1)
    assert time.monotonic() - pressed < 0.5  # published, not polled


async def test_a_stop_pressed_while_the_listener_was_cut_off_is_seen_when_it_listens_again(
    workers, redis, monkeypatch
) -> None:
    monkeypatch.setattr(live, "RESUBSCRIBE_SECONDS", 0.2)
    stop = asyncio.Event()
    await workers.a.watch_stop(9, stop)
    await asyncio.sleep(0.2)
    await redis.client_kill_filter(_type="pubsub")  # every subscriber's connection is cut
    await workers.b.request_stop(9)  # published to nobody
    await asyncio.wait_for(stop.wait(), 2)  # the flag, read once subscribed again


async def test_every_key_expires_and_finish_deletes_them(workers, redis, prefix) -> None:
    await workers.a.add(7, 1, "첫 번째 ", "", first=True)
    await workers.a.add(7, 2, "batch", "")
    await workers.b.request_stop(7)
    written = await keys(redis, prefix)
    assert len(written) == 3, written  # text, head, stop
    for key in written:
        ttl = await redis.ttl(key)
        assert 0 < ttl <= live.KEEP_SECONDS, (key, ttl)  # a crashed worker's answer is not kept forever

    await workers.b.finish(7)

    assert await keys(redis, prefix) == []
    assert await workers.a.read(7) is None and not await workers.a.stop_requested(7)


# --- two workers, one answer each, each stopped from the other -------------------------------


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHandle]:
    handle = start_in_thread(latency=0)
    yield handle
    handle.stop()


@pytest_asyncio.fixture
async def fabrix(emulator: EmulatorHandle, monkeypatch) -> AsyncIterator[FabrixClient]:
    monkeypatch.setattr(client_module, "_override", None)
    client_module.set_base_url_override(
        emulator.base_url, emulator.client_key, emulator.token, client_header=emulator.client_header
    )
    http = make_http_client(timeout=httpx.Timeout(10))
    shared = FabrixClient(client_module._effective(get_settings().fabrix_api), http=http)
    monkeypatch.setattr(client_module, "_shared", shared)
    monkeypatch.setattr(chat_service, "_limiter", RateLimiter(rpm=1000, tpm=10_000_000))
    yield shared
    await http.aclose()
    client_module.clear_base_url_override()
    async with httpx.AsyncClient(base_url=emulator.base_url) as control:
        await control.delete("/_emulator/requests")


async def asks(emulator: EmulatorHandle) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=emulator.base_url) as control:
        log = (await control.get("/_emulator/requests")).json()
    return [r for r in log if r["path"].endswith("/agent-messages")]


async def upstream_outcomes(emulator: EmulatorHandle, wanted: str, seconds: float = 3.0) -> list[str]:
    """The emulator's outcome of every ask, once all are `wanted` or when `seconds` have passed
    (the server notices a closed connection within a few event-loop turns)."""
    deadline = time.monotonic() + seconds
    while True:
        outcomes = [r["outcome"] for r in await asks(emulator)]
        if all(o == wanted for o in outcomes) or time.monotonic() > deadline:
            return outcomes
        await asyncio.sleep(0.05)


@pytest.fixture
def user(app_db) -> User:
    with Session(app_db, expire_on_commit=False) as session:
        row = User(username="alice", email="alice@example.com", password_hash="x")
        session.add(row)
        session.commit()
        return row


@pytest.fixture
def on_worker(monkeypatch):
    """`on_worker(board, coroutine)` runs an answer as if on the worker that owns `board`."""
    worker_board: contextvars.ContextVar[live.Board] = contextvars.ContextVar("worker_board")
    monkeypatch.setattr(live, "get_board", worker_board.get)

    def start(board: live.Board, coroutine: Coroutine[Any, Any, answers.AnswerEnd]) -> asyncio.Task:
        context = contextvars.copy_context()
        context.run(worker_board.set, board)
        return asyncio.create_task(coroutine, context=context)

    return start


@dataclass
class RecordingView:
    parts: list[int] = field(default_factory=list)
    text: str = ""

    async def show(self, part: int, added: str, status: str | None) -> None:
        self.parts.append(part)
        self.text += added


async def new_answer(user: User, question: str, **kwargs: Any) -> answers.AnswerJob:
    prepared = await run_db(
        chat_service.prepare_question,
        user_id=user.id,
        agent_id=AGENT,
        question=question,
        owner=answers.INSTANCE,
        **{"conversation_id": 0, **kwargs},
    )
    return answers.AnswerJob(
        user_id=user.id,
        username=user.username,
        email=user.email,
        conversation_id=prepared.conversation_id,
        question_seq=prepared.question.seq,
        message_id=prepared.answer_id,
        agent_id=AGENT,
        contents=prepared.contents,
    )


def saved(app_db, message_id: int) -> Message:
    with Session(app_db) as session:
        return session.get(Message, message_id)


async def test_stop_pressed_on_the_other_worker_ends_each_answer_within_a_second(
    app_db, user, fabrix, emulator, workers, redis, prefix, on_worker
) -> None:
    first = await new_answer(user, "A long slow answer #fault:slow")
    second = await new_answer(user, "Another long slow answer #fault:slow")
    views = RecordingView(), RecordingView()
    runs = (
        on_worker(workers.a, answers.run_answer(first, views[0])),
        on_worker(workers.b, answers.run_answer(second, views[1])),
    )
    deadline = time.monotonic() + 5
    while not (views[0].text and views[1].text):
        assert time.monotonic() < deadline, "no text streamed"
        await asyncio.sleep(0.05)

    # A tab reloading onto the other worker reads the answer so far from there (copied there about
    # once a BOARD_INTERVAL).
    deadline = time.monotonic() + 2 * live.BOARD_INTERVAL + 1
    while not ((seen := await workers.b.read(first.message_id)) and seen.text):
        assert time.monotonic() < deadline, f"no text on the board: {seen}"
        await asyncio.sleep(0.05)
    assert seen is not None and 1 <= seen.part and views[0].text.startswith(seen.text) and seen.text

    stopped = time.monotonic()
    await workers.b.request_stop(first.message_id)
    await workers.a.request_stop(second.message_id)
    ends = await asyncio.wait_for(asyncio.gather(*runs), 2)
    took = time.monotonic() - stopped

    assert [end.status for end in ends] == ["stopped", "stopped"]
    assert took < 1.0, f"stopped after {took:.2f} s"
    for job, view, end in zip((first, second), views, ends, strict=True):
        assert view.parts == list(range(1, end.parts + 1)) and view.text and end.text.startswith(view.text)
        row = saved(app_db, job.message_id)
        assert (row.status, row.content) == ("stopped", end.text)
    # Both requests to FabriX were closed, not left streaming into the void.
    assert await upstream_outcomes(emulator, "disconnected") == ["disconnected", "disconnected"]
    # And the board forgot both answers: their text, batch numbers and stop flags.
    assert await keys(redis, prefix) == []


async def test_a_stop_before_the_first_batch_does_not_stop_the_next_answer(
    app_db, user, fabrix, emulator, workers, redis, prefix, on_worker
) -> None:
    job = await new_answer(user, "Wait before the first byte #fault:slow_first_byte")
    run = on_worker(workers.a, answers.run_answer(job, RecordingView()))
    await asyncio.sleep(0.3)
    await workers.b.request_stop(job.message_id)
    end = await asyncio.wait_for(run, 2)
    assert (end.status, end.parts) == ("stopped", 0)

    # Regenerate: the question and its answer are replaced. Ids are never reused (SQLite
    # AUTOINCREMENT, migration 0004), so nothing left for the old answer can reach the new one.
    again = await new_answer(
        user, "Now a slow answer #fault:slow", conversation_id=job.conversation_id, replace_from_seq=job.question_seq
    )
    assert again.message_id > job.message_id
    view = RecordingView()
    run = on_worker(workers.a, answers.run_answer(again, view))
    await asyncio.sleep(1.0)
    assert not run.done(), f"nobody pressed Stop, yet it ended {run.result().status!r} with {view.text!r}"
    await workers.b.request_stop(again.message_id)
    assert (await asyncio.wait_for(run, 2)).status == "stopped"
    assert await keys(redis, prefix) == []
