"""The answer's path without a browser: the batching loop that shows and saves a streamed answer
(read back from the database while it streams), and a question about a file sent to the emulator
from the private uploads folder."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlmodel import Session, select

from fabrix_chat.config import get_settings
from fabrix_chat.db import run_db
from fabrix_chat.fabrix import client as client_module
from fabrix_chat.fabrix.client import FabrixClient, make_http_client
from fabrix_chat.fabrix.emulator import AGENTS, EmulatorHandle, start_in_thread
from fabrix_chat.fabrix.limiter import RateLimiter
from fabrix_chat.models import Message, UsageRecord, User
from fabrix_chat.services import chat as chat_service
from fabrix_chat.services import files
from fabrix_chat.state.chat import BATCH_INTERVAL, SAVE_INTERVAL, _StreamBuffer, pump_answer

AGENT = AGENTS[0]["agentId"]


@pytest.fixture
def user(app_db) -> User:
    with Session(app_db, expire_on_commit=False) as session:
        row = User(username="alice", email="alice@example.com", password_hash="x")
        session.add(row)
        session.commit()
        return row


async def new_answer(user: User, question: str, **attachment) -> dict:
    """Save a question the way the chat page does; returns the job for its answer."""
    prepared = await run_db(
        chat_service.prepare_question,
        user_id=user.id,
        conversation_id=0,
        agent_id=AGENT,
        question=question,
        **attachment,
    )
    return {
        "user_id": user.id,
        "username": user.username,
        "email": user.email,
        "agent_id": AGENT,
        "message_id": prepared.answer_id,
        "conversation_id": prepared.conversation_id,
        "question_seq": prepared.question.seq,
        "contents": prepared.contents,
        "lang": "en",
    }


async def stored_answer(app_db, message_id: int) -> Message:
    def read(*, session: Session) -> Message:
        return session.get(Message, message_id)

    return await run_db(read)


# --- the batching loop ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_first_chunk_shows_at_once_updates_are_batched_and_saved_while_streaming(app_db, user):
    job = await new_answer(user, "Tell me a long story")
    buffer = _StreamBuffer()
    chunks = [f"word{i} " for i in range(160)]

    async def upstream() -> None:  # 40 chunks a second for 4 seconds
        for chunk in chunks:
            buffer.update(text=chunk)
            await asyncio.sleep(0.025)

    published: list[tuple[float, str]] = []

    async def publish(text: str, _status: str) -> bool:
        published.append((time.monotonic(), text))
        return True

    async def save(text: str) -> None:
        await chat_service.save_answer(job, text, "streaming")

    seen_in_db: list[tuple[float, int, str]] = []

    async def read_db_while_streaming() -> None:
        while not consumer.done():
            row = await stored_answer(app_db, job["message_id"])
            seen_in_db.append((time.monotonic() - started, len(row.content), row.status))
            await asyncio.sleep(0.1)

    started = time.monotonic()
    consumer = asyncio.create_task(upstream())
    reader = asyncio.create_task(read_db_while_streaming())
    await pump_answer(consumer, buffer, publish, save)
    await reader
    duration = time.monotonic() - started

    assert published[0][1] == "word0 " and published[0][0] - started < 0.2  # the first chunk at once
    assert published[-1][1] == "".join(chunks)  # the last update holds everything
    rate = len(published) / duration
    assert 5 <= rate <= 1 / BATCH_INTERVAL + 2, f"{rate:.1f} updates a second"
    # While it streamed, the database held a growing answer, never more than ~2 s behind.
    growing = [(t, n) for t, n, status in seen_in_db if n and status == "streaming"]
    assert growing, seen_in_db
    assert growing[0][0] <= SAVE_INTERVAL + 0.6
    changes = [growing[0][0]] + [t for (t, n), (_t, m) in zip(growing[1:], growing, strict=False) if n != m]
    assert max(b - a for a, b in zip(changes, changes[1:], strict=False)) <= 2.0 + 0.3
    assert len({n for _t, n in growing}) >= 2


@pytest.mark.asyncio
async def test_text_received_before_a_stall_is_saved_during_the_stall(app_db, user):
    job = await new_answer(user, "A question")
    buffer = _StreamBuffer()
    stalled = asyncio.Event()

    async def upstream() -> None:
        buffer.update(text="Everything that arrived ")
        buffer.update(text="before the stall.")
        stalled.set()
        await asyncio.sleep(3600)  # nothing more, as when FabriX stalls

    async def publish(_text: str, _status: str) -> bool:
        return True

    async def save(text: str) -> None:
        await chat_service.save_answer(job, text, "streaming")

    consumer = asyncio.create_task(upstream())
    pump = asyncio.create_task(pump_answer(consumer, buffer, publish, save, save_interval=0.3))
    try:
        await stalled.wait()
        await asyncio.sleep(0.8)
        row = await stored_answer(app_db, job["message_id"])
        assert row.content == "Everything that arrived before the stall." and row.status == "streaming"
    finally:
        consumer.cancel()
        await pump


@pytest.mark.asyncio
async def test_a_page_that_no_longer_wants_the_answer_stops_the_upstream():
    buffer = _StreamBuffer()

    async def upstream() -> None:
        for i in range(1000):
            buffer.update(text=f"{i} ")
            await asyncio.sleep(0.01)

    async def publish(_text: str, _status: str) -> bool:
        return False

    async def save(_text: str) -> None:
        return None

    consumer = asyncio.create_task(upstream())
    await asyncio.wait_for(pump_answer(consumer, buffer, publish, save), timeout=5)
    assert consumer.cancelled()


@pytest.mark.asyncio
async def test_status_lines_never_become_part_of_the_answer():
    buffer = _StreamBuffer()
    shown: list[tuple[str, str]] = []

    async def upstream() -> None:
        buffer.update(status="Searching documents...")
        await asyncio.sleep(0.05)
        buffer.update(text="Hello ", status="")
        await asyncio.sleep(0.1)
        buffer.update(status="Checking source 1...")
        await asyncio.sleep(0.1)
        buffer.update(text="world.", status="")

    async def publish(text: str, status: str) -> bool:
        shown.append((text, status))
        return True

    async def save(_text: str) -> None:
        return None

    await pump_answer(asyncio.create_task(upstream()), buffer, publish, save)
    assert ("", "Searching documents...") in shown
    assert ("Hello ", "Checking source 1...") in shown
    assert shown[-1] == ("Hello world.", "")


# --- a question about a file ------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHandle]:
    handle = start_in_thread(latency=0)
    yield handle
    handle.stop()


@pytest_asyncio.fixture
async def fabrix(emulator, monkeypatch):
    monkeypatch.setattr(client_module, "_override", None)
    client_module.set_base_url_override(
        emulator.base_url, emulator.client_key, emulator.token, client_header=emulator.client_header
    )
    http = make_http_client(timeout=httpx.Timeout(10))
    shared = FabrixClient(client_module._effective(get_settings().fabrix_api), http=http)
    monkeypatch.setattr(client_module, "_shared", shared)
    yield shared
    await http.aclose()
    client_module.clear_base_url_override()


class RecordingLimiter(RateLimiter):
    def __init__(self) -> None:
        super().__init__(rpm=1000, tpm=10_000_000)
        self.waits: list[float] = []

    async def acquire(self, *, max_wait: float, **kwargs) -> None:  # type: ignore[override]
        self.waits.append(max_wait)
        await super().acquire(max_wait=max_wait, **kwargs)


@pytest.fixture
def limiter(monkeypatch) -> RecordingLimiter:
    fresh = RecordingLimiter()
    monkeypatch.setattr(chat_service, "_limiter", fresh)
    return fresh


async def store(user: User, name: str, data: bytes) -> files.StoredFile:
    class Chunk:
        def __init__(self, piece: bytes) -> None:
            self.filename, self.data = name, piece

    async def chunks():
        for i in range(0, len(data), 1000):
            yield Chunk(data[i : i + 1000])

    return await files.store_upload(chunks(), user_id=user.id, limit=10_000_000)


@pytest.mark.asyncio
async def test_a_file_question_is_sent_from_the_private_folder_and_answered(app_db, user, fabrix, limiter):
    text = "city,visitors\nSeoul,100\nBusan,80\n" + "x,1\n" * 3000
    stored = await store(user, "visitors.csv", text.encode())
    assert files.is_kept(stored.path)
    assert Path(stored.path).parent == get_settings().data_path / "uploads" / str(user.id)
    job = await new_answer(user, "Summarise this table", attachment_name=stored.name, attachment_size=stored.size)
    job.update(kind="file", file=stored.as_dict())
    buffer = _StreamBuffer()
    statuses: list[str] = []

    def update(**values: str) -> None:
        if values.get("status"):
            statuses.append(values["status"])
        buffer.update(**values)

    await chat_service.consume_answer(job, update)
    assert "visitors.csv" in buffer.text and str(stored.size) in buffer.text  # the emulator describes the file
    assert "Seoul,100" in buffer.text
    assert statuses == ["The agent is reading the file…"]
    assert limiter.waits == [get_settings().rate_limit.file_max_wait_seconds]
    with Session(app_db) as session:
        usage = session.exec(select(UsageRecord)).all()
        asked = session.exec(select(Message).where(Message.role == "user")).one()
    assert [(u.kind, u.outcome) for u in usage] == [("file", "ok")]
    assert (asked.attachment_name, asked.attachment_size) == ("visitors.csv", stored.size)


@pytest.mark.asyncio
async def test_only_files_from_the_private_folder_are_ever_sent(app_db, user, fabrix, limiter, tmp_path):
    outside = tmp_path / "secrets.txt"
    outside.write_text("not for FabriX")
    job = await new_answer(user, "Read this")
    job.update(kind="file", file={"path": str(outside), "name": "x.txt", "size": 14, "content_type": "text/plain"})
    with pytest.raises(ValueError):
        await chat_service.consume_answer(job, _StreamBuffer().update)


@pytest.mark.asyncio
async def test_a_chat_question_waits_with_the_chat_limit(app_db, user, fabrix, limiter):
    job = await new_answer(user, "Hello there")
    buffer = _StreamBuffer()
    await chat_service.consume_answer(job, buffer.update)
    assert buffer.text and limiter.waits == [get_settings().rate_limit.chat_max_wait_seconds]
