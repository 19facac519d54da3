"""One answer without a browser (services/answers.py): how the page is sent its batches, the saves
while it streams (read back from the database), the heartbeat, Stop (here, through a shared
live board, or by cancelling the answer), a failing live board, and a question about a file sent
to the emulator from the private uploads folder.

Most tests replace the FabriX side (`answers.consume_answer`) by a coroutine that feeds the answer
at a chosen pace; the Stop tests use the real client against a mocked FabriX (respx) to see that
the upstream response is closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import respx
from sqlmodel import Session, select

from fabrix_chat import i18n
from fabrix_chat.config import FabrixSettings, get_settings
from fabrix_chat.db import run_db
from fabrix_chat.emulator import AGENTS, EmulatorHandle, start_in_thread
from fabrix_chat.fabrix import client as client_module
from fabrix_chat.fabrix.client import FabrixClient, make_http_client
from fabrix_chat.fabrix.limiter import RateLimiter
from fabrix_chat.models import Message, UsageRecord, User
from fabrix_chat.repo import conversations as conv_repo
from fabrix_chat.services import answers, files, live
from fabrix_chat.services import chat as chat_service

pytestmark = pytest.mark.asyncio

AGENT = AGENTS[0]["agentId"]
Update = Callable[..., None]


@pytest.fixture
def user(app_db) -> User:
    with Session(app_db, expire_on_commit=False) as session:
        row = User(username="alice", email="alice@example.com", password_hash="x")
        session.add(row)
        session.commit()
        return row


@pytest.fixture(autouse=True)
def board() -> Iterator[live.MemoryBoard]:
    """One process, no Redis, unless a test sets its own board."""
    memory = live.MemoryBoard()
    live.set_board(memory)
    yield memory
    live.set_board(None)


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


async def new_answer(user: User, question: str, *, file: files.StoredFile | None = None) -> answers.AnswerJob:
    """Save a question the way the chat page does; returns the job for its answer."""
    prepared = await run_db(
        chat_service.prepare_question,
        user_id=user.id,
        conversation_id=0,
        agent_id=AGENT,
        question=question,
        attachment_name=file.name if file else "",
        attachment_size=file.size if file else 0,
        owner=answers.INSTANCE,
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
        lang="en",
        file=file,
    )


async def stored_answer(message_id: int) -> Message:
    def read(*, session: Session) -> Message:
        return session.get(Message, message_id)

    return await run_db(read)


@dataclass(frozen=True)
class Batch:
    at: float  # time.monotonic() when the page was sent it
    part: int
    added: str
    status: str | None


@dataclass
class RecordingView:
    """The page's side of an answer (answers.AnswerView): every batch recorded instead of pushed."""

    batches: list[Batch] = field(default_factory=list)

    async def show(self, part: int, added: str, status: str | None) -> None:
        self.batches.append(Batch(time.monotonic(), part, added, status))

    @property
    def text(self) -> str:
        return "".join(b.added for b in self.batches)

    @property
    def statuses(self) -> list[str]:
        return [b.status for b in self.batches if b.status is not None]


def assert_whole(view: RecordingView, end: answers.AnswerEnd) -> None:
    """The page got batches 1..n with none missing, and together they are the answer (after Stop
    no batch follows: the page reads the rest from the database when the answer has ended)."""
    assert [b.part for b in view.batches] == list(range(1, len(view.batches) + 1))
    assert end.parts == len(view.batches)
    if end.status == "stopped":
        assert end.text.startswith(view.text)
    else:
        assert view.text == end.text


@dataclass
class Upstream:
    """A stand-in for the FabriX side of an answer; notes whether it was cancelled (Stop reached it)."""

    feed: Callable[[Update], Awaitable[None]]
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, _job: answers.AnswerJob, update: Update) -> None:
        try:
            await self.feed(update)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


@pytest.fixture
def upstream(monkeypatch) -> Callable[[Callable[[Update], Awaitable[None]]], Upstream]:
    """Install a coroutine `feed(update)` as the answer's FabriX side."""

    def install(feed: Callable[[Update], Awaitable[None]]) -> Upstream:
        fake = Upstream(feed)
        monkeypatch.setattr(answers, "consume_answer", fake)
        return fake

    return install


async def stall_after(update: Update, *texts: str) -> None:
    for text in texts:
        update(text=text, status="")
    await asyncio.sleep(3600)  # nothing more, as when FabriX stalls


async def endless(update: Update) -> None:
    for i in range(100_000):
        update(text=f"{i} ", status="")
        await asyncio.sleep(0.01)


async def until(condition: Callable[[], bool], what: str, seconds: float = 2.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds} s"
        await asyncio.sleep(0.01)


# --- batches and saves --------------------------------------------------------------------------


async def test_first_chunk_shows_at_once_updates_are_batched_and_saved_while_streaming(app_db, user, upstream):
    job = await new_answer(user, "Tell me a long story")
    chunks = [f"word{i} " for i in range(160)]

    async def feed(update: Update) -> None:  # 40 chunks a second for 4 seconds
        for chunk in chunks:
            update(text=chunk, status="")
            await asyncio.sleep(0.025)

    upstream(feed)
    view = RecordingView()
    seen_in_db: list[tuple[float, int, str]] = []

    async def read_db_while_streaming() -> None:
        while not run.done():
            row = await stored_answer(job.message_id)
            seen_in_db.append((time.monotonic() - started, len(row.content), row.status))
            await asyncio.sleep(0.1)

    started = time.monotonic()
    run = asyncio.create_task(answers.run_answer(job, view))
    reader = asyncio.create_task(read_db_while_streaming())
    end = await run
    await reader
    duration = time.monotonic() - started

    assert end.status == "complete" and end.text == "".join(chunks)
    assert_whole(view, end)
    first = view.batches[0]
    assert first.added == "word0 " and first.at - started < 0.2  # the first chunk at once
    rate = len(view.batches) / duration
    assert 5 <= rate <= 1 / answers.BATCH_INTERVAL + 2, f"{rate:.1f} updates a second"
    assert len(view.batches) < len(chunks) / 2  # chunks that arrive together leave together
    # While it streamed, the database held a growing answer, never more than ~2 s behind.
    growing = [(t, n) for t, n, status in seen_in_db if n and status == "streaming"]
    assert growing, seen_in_db
    assert growing[0][0] <= answers.SAVE_INTERVAL + 0.6
    changes = [growing[0][0]] + [t for (t, n), (_t, m) in zip(growing[1:], growing, strict=False) if n != m]
    assert max(b - a for a, b in zip(changes, changes[1:], strict=False)) <= 2.0 + 0.3
    assert len({n for _t, n in growing}) >= 2
    row = await stored_answer(job.message_id)
    assert (row.content, row.status) == (end.text, "complete")


async def count_for(seconds: float, job: answers.AnswerJob, batch_interval: float) -> RecordingView:
    """Stream a count every 10 ms for `seconds`, then Stop; returns what the page was sent."""
    view = RecordingView()
    run = asyncio.create_task(answers.run_answer(job, view, batch_interval=batch_interval))
    await asyncio.sleep(seconds)
    await answers.request_stop(job.message_id)
    end = await run
    assert end.status == "stopped"
    assert_whole(view, end)
    return view


async def test_batches_wait_the_batch_interval_after_the_first_text(app_db, user, upstream):
    upstream(endless)
    view = await count_for(1.1, await new_answer(user, "Count"), batch_interval=0.2)
    gaps = [b.at - a.at for a, b in zip(view.batches, view.batches[1:], strict=False)]
    assert 4 <= len(view.batches) <= 8, gaps  # about one batch each 0.2 s, not one per 10 ms chunk
    # The last may be the rest, sent as it stopped; the first two: see the next test.
    assert min(gaps[1:-1]) >= 0.2 - 0.02, gaps


async def test_the_second_batch_also_waits_the_batch_interval(app_db, user, upstream):
    upstream(endless)
    view = await count_for(0.5, await new_answer(user, "Count"), batch_interval=0.2)
    assert view.batches[1].at - view.batches[0].at >= 0.2 - 0.02


async def test_text_received_before_a_stall_is_saved_during_the_stall(app_db, user, upstream):
    job = await new_answer(user, "A question")
    fake = upstream(lambda update: stall_after(update, "Everything that arrived ", "before the stall."))
    view = RecordingView()
    run = asyncio.create_task(answers.run_answer(job, view, save_interval=0.3))
    await until(lambda: bool(view.text), "text reaching the page")
    await asyncio.sleep(0.8)
    row = await stored_answer(job.message_id)
    assert (row.content, row.status) == ("Everything that arrived before the stall.", "streaming")
    assert view.text == row.content  # the page has it too, in one batch
    snapshot = await answers.snapshot(job.message_id)  # what a reloaded tab is sent
    assert snapshot == live.Snapshot(part=1, text=row.content, status="")
    await answers.request_stop(job.message_id)
    end = await run
    assert end.status == "stopped" and fake.cancelled.is_set()
    assert await answers.snapshot(job.message_id) is None  # ended: the database has it


async def test_status_lines_never_become_part_of_the_answer(app_db, user, upstream):
    job = await new_answer(user, "Search for it")

    async def feed(update: Update) -> None:
        update(status="Searching documents...")
        await asyncio.sleep(0.05)
        update(text="Hello ", status="")
        await asyncio.sleep(0.15)
        update(status="Checking source 1...")
        await asyncio.sleep(0.15)
        update(text="world.", status="")

    upstream(feed)
    view = RecordingView()
    end = await answers.run_answer(job, view)
    assert_whole(view, end)
    assert view.batches[0] == Batch(view.batches[0].at, 1, "", "Searching documents...")
    assert "Checking source 1..." in view.statuses
    assert view.statuses[-1] == ""  # the status line is cleared when the text goes on
    assert end.text == "Hello world."
    assert (await stored_answer(job.message_id)).content == "Hello world."


async def test_a_stalled_answer_keeps_its_heartbeat(app_db, user, upstream, monkeypatch):
    monkeypatch.setattr(answers, "BEAT_INTERVAL", 0.2)
    beats: list[float] = []
    real_beat = conv_repo.beat

    def beat(**kwargs):
        beats.append(time.monotonic())
        return real_beat(**kwargs)

    monkeypatch.setattr(conv_repo, "beat", beat)
    job = await new_answer(user, "A slow first byte")
    first_heartbeat = (await stored_answer(job.message_id)).heartbeat_at
    upstream(lambda update: stall_after(update))  # no text at all: nothing to save, only to beat
    started = time.monotonic()
    run = asyncio.create_task(answers.run_answer(job, RecordingView()))
    await asyncio.sleep(0.75)
    row = await stored_answer(job.message_id)
    await answers.request_stop(job.message_id)
    assert (await run).status == "stopped"

    assert 2 <= len(beats) <= 4, beats
    assert 0.2 - 0.02 <= beats[0] - started <= 0.2 + 0.15
    assert row.status == "streaming" and row.content == ""
    assert first_heartbeat is not None and row.heartbeat_at > first_heartbeat  # a restart sees it alive


# --- Stop -----------------------------------------------------------------------------------------

BASE = "https://fabrix.test/api-agent"
SSE_HEADERS = {"content-type": "text/event-stream"}


class Endless(httpx.AsyncByteStream):
    """FabriX sending two chunks and then nothing, noting when the app closes the response."""

    def __init__(self) -> None:
        self.closed = asyncio.Event()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for text in ("Hello ", "world"):
            yield f"data: {json.dumps({'event_status': 'CHUNK', 'content': text})}\n\n".encode()
        await asyncio.sleep(3600)
        yield b""

    async def aclose(self) -> None:
        self.closed.set()


@pytest_asyncio.fixture
async def endless_fabrix(monkeypatch, limiter) -> AsyncIterator[Endless]:
    """The process-wide client pointed at a mocked FabriX whose answer never ends."""
    stream = Endless()
    settings = FabrixSettings(base_url=BASE, client_key="key", openapi_token="token")  # type: ignore[call-arg]
    shared = FabrixClient(settings, http=make_http_client())
    monkeypatch.setattr(client_module, "_shared", shared)
    with respx.mock(base_url=BASE + "/openapi/agent-chat/v1", assert_all_called=False) as api:
        api.post("/agent-messages").mock(return_value=httpx.Response(200, headers=SSE_HEADERS, stream=stream))
        yield stream
    await shared._http.aclose()


def usage_outcomes(app_db) -> list[str]:
    with Session(app_db) as session:
        return [r.outcome for r in session.exec(select(UsageRecord).order_by(UsageRecord.id))]


async def test_stop_ends_the_upstream_at_once_and_keeps_the_partial_text(app_db, user, endless_fabrix):
    job = await new_answer(user, "Go on forever")
    view = RecordingView()
    run = asyncio.create_task(answers.run_answer(job, view))
    await until(lambda: view.text == "Hello world", "the first chunks reaching the page")
    stopped = time.monotonic()
    await answers.request_stop(job.message_id)
    end = await asyncio.wait_for(run, 2)

    assert time.monotonic() - stopped < 0.3
    assert endless_fabrix.closed.is_set(), "the request to FabriX is closed"
    assert (end.status, end.text, end.error, end.retry) == ("stopped", "Hello world", "", False)
    assert_whole(view, end)
    row = await stored_answer(job.message_id)
    assert (row.content, row.status, row.owner) == ("Hello world", "stopped", "")
    assert usage_outcomes(app_db) == ["stopped"]


async def test_cancelling_the_answer_closes_the_upstream_and_saves_it_stopped(app_db, user, endless_fabrix):
    """The page's event ends (the tab closed, the server shuts down): the answer task is cancelled."""
    job = await new_answer(user, "Go on forever")
    view = RecordingView()
    run = asyncio.create_task(answers.run_answer(job, view))
    await until(lambda: view.text == "Hello world", "the first chunks reaching the page")
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    await asyncio.wait_for(endless_fabrix.closed.wait(), 1)
    row = await stored_answer(job.message_id)
    assert (row.content, row.status, row.owner) == ("Hello world", "stopped", "")
    assert await answers.snapshot(job.message_id) is None


async def test_an_answer_cancelled_during_a_slow_save_still_ends_stopped(app_db, user, upstream, monkeypatch):
    upstream(endless)
    real_update = conv_repo.update_message
    saving, saved = threading.Event(), threading.Event()

    def slow_update(**kwargs):  # the database is busy (another writer holds the lock) for a moment
        if kwargs["status"] != "streaming":
            return real_update(**kwargs)
        saving.set()
        time.sleep(0.3)
        try:
            return real_update(**kwargs)
        finally:
            saved.set()

    monkeypatch.setattr(conv_repo, "update_message", slow_update)
    job = await new_answer(user, "Go on")
    run = asyncio.create_task(answers.run_answer(job, RecordingView(), save_interval=0.1))
    assert await asyncio.to_thread(saving.wait, 2), "no save while streaming"
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    await asyncio.to_thread(saved.wait, 2)
    await asyncio.sleep(0.1)  # its transaction commits after the function returns
    assert (await stored_answer(job.message_id)).status == "stopped"


class SharedBoard(live.MemoryBoard):
    """A live board other workers see (as Redis is), on which Stop is pressed `stop_after` seconds
    into the answer (as another worker would)."""

    shared = True

    def __init__(self, stop_after: float = 3600.0) -> None:
        super().__init__()
        self.stop_after = stop_after
        self.stop_at = 0.0
        self.added: list[tuple[float, int, str]] = []
        self.finished: list[int] = []

    async def add(self, message_id: int, part: int, added: str, status: str, *, first: bool = False) -> None:
        self.added.append((time.monotonic(), part, added))
        await super().add(message_id, part, added, status, first=first)

    async def finish(self, message_id: int) -> None:
        self.finished.append(message_id)
        await super().finish(message_id)

    async def watch_stop(self, message_id: int, stop: asyncio.Event) -> None:
        await super().watch_stop(message_id, stop)
        self.stop_at = time.monotonic() + self.stop_after
        asyncio.get_running_loop().call_later(self.stop_after, stop.set)


@pytest.mark.parametrize("pace", ["streaming", "stalled"])
async def test_stop_pressed_on_another_worker_ends_the_answer_within_a_batch(app_db, user, upstream, pace):
    job = await new_answer(user, "Go on")
    fake = upstream(endless if pace == "streaming" else (lambda update: stall_after(update, "Some text")))
    shared = SharedBoard(stop_after=2.5)
    live.set_board(shared)
    view = RecordingView()
    end = await asyncio.wait_for(answers.run_answer(job, view), 5)
    late = time.monotonic() - shared.stop_at

    assert end.status == "stopped" and end.text and fake.cancelled.is_set()
    assert late <= answers.BATCH_INTERVAL + 0.1, f"stopped {late:.2f} s after Stop"
    assert_whole(view, end)
    # What the page was sent also went to the board (a tab reloading onto another worker reads it
    # there), in order, without a hole, at most once a BOARD_INTERVAL however fast it streamed...
    written = [added for _, _, added in shared.added]
    assert written and end.text.startswith("".join(written))
    assert [part for _, part, _ in shared.added] == sorted({part for _, part, _ in shared.added})
    times = [at for at, _, _ in shared.added]
    assert all(b - a >= live.BOARD_INTERVAL - 0.01 for a, b in zip(times, times[1:], strict=False))
    if pace == "stalled":  # ...and also when nothing more arrives
        assert "".join(written) == "Some text"
    else:
        assert len(view.batches) > 2 * len(shared.added)
    # ...and it is taken off the board when the answer ends.
    assert shared.finished == [job.message_id] and await shared.read(job.message_id) is None
    assert (await stored_answer(job.message_id)).content == end.text


class BrokenBoard:
    """A shared live board whose every call fails (Redis is down)."""

    shared = True

    def __init__(self) -> None:
        self.calls = 0

    async def _fail(self, *args) -> None:
        self.calls += 1
        raise ConnectionError("Redis is down")

    add = read = finish = request_stop = stop_requested = watch_stop = _fail


async def test_a_failing_live_board_never_ends_the_answer_and_is_logged_once(app_db, user, upstream, caplog):
    job = await new_answer(user, "Go on")
    chunks = [f"w{i} " for i in range(40)]

    async def feed(update: Update) -> None:  # about 0.8 s: several stop polls and batches
        for chunk in chunks:
            update(text=chunk, status="")
            await asyncio.sleep(0.02)

    upstream(feed)
    broken = BrokenBoard()
    live.set_board(broken)
    view = RecordingView()
    with caplog.at_level(logging.WARNING, logger=answers.log.name):
        end = await asyncio.wait_for(answers.run_answer(job, view), 5)

    assert (end.status, end.text) == ("complete", "".join(chunks))
    assert_whole(view, end)
    # It was asked, failed, and was then left alone (each failure can take its whole socket
    # timeout)...
    assert 1 <= broken.calls <= 3
    failures = [r for r in caplog.records if r.name == answers.log.name and "live board" in r.getMessage()]
    assert len(failures) == 1  # ...and logged once
    assert (await stored_answer(job.message_id)).status == "complete"


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

    async def no_backoff(_seconds: float) -> None:
        return None

    shared = FabrixClient(client_module._effective(get_settings().fabrix_api), http=http, sleep=no_backoff)
    monkeypatch.setattr(client_module, "_shared", shared)
    yield shared
    await http.aclose()
    client_module.clear_base_url_override()


async def store(user: User, name: str, data: bytes) -> files.StoredFile:
    class Chunk:
        def __init__(self, piece: bytes) -> None:
            self.filename, self.data = name, piece

    async def chunks():
        for i in range(0, len(data), 1000):
            yield Chunk(data[i : i + 1000])

    return await files.store_upload(chunks(), user_id=user.id, limit=10_000_000)


async def test_a_file_question_is_sent_from_the_private_folder_answered_and_the_file_deleted(
    app_db, user, fabrix, limiter
):
    text = "city,visitors\nSeoul,100\nBusan,80\n" + "x,1\n" * 3000
    stored = await store(user, "visitors.csv", text.encode())
    assert files.is_kept(stored.path)
    assert Path(stored.path).parent == get_settings().data_path / "uploads" / str(user.id)
    job = await new_answer(user, "Summarise this table", file=stored)
    view = RecordingView()

    end = await answers.run_answer(job, view)

    assert end.status == "complete" and end.file_kept is False
    assert_whole(view, end)
    assert "visitors.csv" in end.text and str(stored.size) in end.text  # the emulator describes the file
    assert "Seoul,100" in end.text
    assert [s for s in view.statuses if s] == ["The agent is reading the file…"]
    assert limiter.waits == [get_settings().rate_limit.file_max_wait_seconds]
    assert not files.is_kept(stored.path), "an answered file is not kept"
    with Session(app_db) as session:
        usage = session.exec(select(UsageRecord)).all()
        asked = session.exec(select(Message).where(Message.role == "user")).one()
    assert [(u.kind, u.outcome) for u in usage] == [("file", "ok")]
    assert (asked.attachment_name, asked.attachment_size) == ("visitors.csv", stored.size)


async def test_a_file_question_that_fails_keeps_the_file_for_retry(app_db, user, fabrix, limiter):
    stored = await store(user, "notes.txt", b"some notes\n")
    job = await new_answer(user, "Read this #fault:unavailable", file=stored)

    end = await answers.run_answer(job, RecordingView())

    assert end.status == "error" and end.error == i18n.t("error_unavailable", "en") and end.retry
    assert end.file_kept is True and files.is_kept(stored.path)
    row = await stored_answer(job.message_id)
    assert (row.status, row.error) == ("error", end.error)


async def test_only_files_from_the_private_folder_are_ever_sent(app_db, user, fabrix, limiter, emulator, tmp_path):
    outside = tmp_path / "secrets.txt"
    outside.write_text("not for FabriX")
    job = await new_answer(
        user, "Read this", file=files.StoredFile(path=str(outside), name="x.txt", size=14, content_type="text/plain")
    )
    async with httpx.AsyncClient(base_url=emulator.base_url) as http:
        await http.delete("/_emulator/requests")

    end = await answers.run_answer(job, RecordingView())

    assert end.status == "error" and end.error == i18n.t("error_generic", "en")
    assert outside.read_text() == "not for FabriX"
    async with httpx.AsyncClient(base_url=emulator.base_url) as http:
        sent = (await http.get("/_emulator/requests")).json()
    assert [r for r in sent if r["path"].endswith("/file")] == []


async def test_a_chat_question_waits_with_the_chat_limit(app_db, user, fabrix, limiter):
    job = await new_answer(user, "Hello there")
    end = await answers.run_answer(job, RecordingView())
    assert end.status == "complete" and end.text
    assert limiter.waits == [get_settings().rate_limit.chat_max_wait_seconds]
