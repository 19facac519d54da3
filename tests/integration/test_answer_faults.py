"""Upstream faults through the app's own answer path: `services.answers.run_answer` against the real
emulator over real HTTP, the question saved the way the chat page saves it, and the page replaced
by a view that records every batch it is sent.

For every fault: the partial text reaches the page, the answer ends with status "error" and a plain
message (with Retry offered only when asking again can help), and the database keeps exactly the
text the page was sent. Also the retry rules (agent list: retried with backoff; ask: only before
the first byte), the rate-limit experience (a transparent wait with "waiting for capacity", then
"Server is busy, try again in N s"), and Stop.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlmodel import Session, select

from fabrix_chat import i18n
from fabrix_chat.config import get_settings
from fabrix_chat.db import run_db
from fabrix_chat.emulator import AGENTS, EmulatorHandle, start_in_thread
from fabrix_chat.fabrix import client as client_module
from fabrix_chat.fabrix import errors as fx
from fabrix_chat.fabrix.client import FabrixClient, make_http_client
from fabrix_chat.fabrix.limiter import RateLimiter
from fabrix_chat.models import Message, UsageRecord, User
from fabrix_chat.services import answers, live
from fabrix_chat.services import chat as chat_service

pytestmark = pytest.mark.asyncio

AGENT = AGENTS[0]["agentId"]
READ_TIMEOUT = 1.0  # seconds between chunks before a stall is a timeout (30 s in production)
BIG = 1_000_000
WAITING = i18n.t("waiting_for_capacity", "en")
# Words a plain message must never contain: status codes, internals, the demo keys.
NOT_PLAIN = ("HTTP", "R500", "R401", "R429", "Traceback", "Exception", "demo-client", "demo-token", "httpx", "{")


class Sleeps(list[float]):
    """The client's backoff sleeps, recorded instead of slept (the waits themselves are tested in unit tests)."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHandle]:
    handle = start_in_thread(latency=0, stall_seconds=30)
    yield handle
    handle.stop()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture(autouse=True)
def board() -> Iterator[live.MemoryBoard]:
    """One process, no Redis: the live board is the in-memory one (whatever another test left)."""
    memory = live.MemoryBoard()
    live.set_board(memory)
    yield memory
    live.set_board(None)


@pytest_asyncio.fixture
async def fabrix(emulator: EmulatorHandle, sleeps: Sleeps, monkeypatch) -> AsyncIterator[FabrixClient]:
    """The process-wide client pointed at the emulator (as demo mode does), with a short read timeout."""
    monkeypatch.setattr(client_module, "_override", None)
    client_module.set_base_url_override(
        emulator.base_url, emulator.client_key, emulator.token, client_header=emulator.client_header
    )
    http = make_http_client(timeout=httpx.Timeout(5, read=READ_TIMEOUT))
    shared = FabrixClient(client_module._effective(get_settings().fabrix_api), http=http, sleep=sleeps)
    monkeypatch.setattr(client_module, "_shared", shared)
    monkeypatch.setattr(chat_service, "_agents_cache", None)
    yield shared
    await http.aclose()
    await set_fault(emulator, None)
    await clear_request_log(emulator)


@pytest.fixture
def limiter(monkeypatch) -> RateLimiter:
    """A fresh, roomy limiter per test so no test's usage slows another."""
    fresh = RateLimiter(rpm=1000, tpm=BIG)
    monkeypatch.setattr(chat_service, "_limiter", fresh)
    return fresh


@pytest.fixture
def user(app_db) -> User:
    with Session(app_db, expire_on_commit=False) as session:
        row = User(username="alice", email="alice@example.com", password_hash="x")
        session.add(row)
        session.commit()
        return row


async def control(emulator: EmulatorHandle, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """Call one of the emulator's /_emulator endpoints (faults, request log)."""
    async with httpx.AsyncClient(base_url=emulator.base_url) as http:
        response = await http.request(method, f"/_emulator/{path}", **kwargs)
    response.raise_for_status()
    return response


async def set_fault(emulator: EmulatorHandle, fault: str | None, count: int = 1) -> None:
    await control(emulator, "POST", "faults", json={"fault": fault, "count": count})


async def request_log(emulator: EmulatorHandle) -> list[dict[str, Any]]:
    return (await control(emulator, "GET", "requests")).json()


async def clear_request_log(emulator: EmulatorHandle) -> None:
    await control(emulator, "DELETE", "requests")


async def asks(emulator: EmulatorHandle) -> list[dict[str, Any]]:
    return [r for r in await request_log(emulator) if r["path"].endswith("/agent-messages")]


@dataclass(frozen=True)
class Batch:
    part: int
    added: str
    status: str | None


@dataclass
class RecordingView:
    """The page's side of an answer (answers.AnswerView): every batch recorded instead of pushed."""

    batches: list[Batch] = field(default_factory=list)

    async def show(self, part: int, added: str, status: str | None) -> None:
        self.batches.append(Batch(part, added, status))

    @property
    def text(self) -> str:
        return "".join(b.added for b in self.batches)

    @property
    def statuses(self) -> list[str]:
        return [b.status for b in self.batches if b.status is not None]


@dataclass
class Outcome:
    """How one answer ended, what the page was sent, and the saved row."""

    end: answers.AnswerEnd
    batches: list[Batch]
    message: Message
    seconds: float

    @property
    def text(self) -> str:
        return self.end.text

    @property
    def statuses(self) -> list[str]:
        return [b.status for b in self.batches if b.status is not None]


async def ask(user: User, question: str, *, conversation_id: int = 0, lang: str = "en") -> answers.AnswerJob:
    """Save the question the way the chat page does; returns the job for its answer."""
    prepared = await run_db(
        chat_service.prepare_question,
        user_id=user.id,
        conversation_id=conversation_id,
        agent_id=AGENT,
        question=question,
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
        lang=lang,
    )


def saved(app_db, message_id: int) -> Message:
    with Session(app_db) as session:
        return session.get(Message, message_id)


def ended(app_db, job: answers.AnswerJob, view: RecordingView, end: answers.AnswerEnd, seconds: float) -> Outcome:
    """Check what holds for every ending, and collect it.

    The page got its batches numbered 1..n with nothing missing, together they are the whole
    answer (after Stop no batch follows: the page reads the rest from the database when the answer
    has ended), and the database keeps exactly that text with the final status and plain message,
    no longer claimed by a writer (a restart must not think it is still being written).
    """
    assert [b.part for b in view.batches] == list(range(1, len(view.batches) + 1))
    assert end.parts == len(view.batches)
    if end.status == "stopped":
        assert end.text.startswith(view.text)
    else:
        assert view.text == end.text
    assert end.status in ("complete", "stopped", "error")
    assert bool(end.error) == (end.status == "error")
    message = saved(app_db, job.message_id)
    assert (message.content, message.status, message.error) == (end.text, end.status, end.error)
    assert message.owner == "" and message.heartbeat_at is None
    return Outcome(end, view.batches, message, seconds)


async def answer(app_db, user: User, question: str, *, conversation_id: int = 0, lang: str = "en") -> Outcome:
    """Save the question, then run the app's own answer (`answers.run_answer`) to its end."""
    job = await ask(user, question, conversation_id=conversation_id, lang=lang)
    view = RecordingView()
    started = time.monotonic()
    end = await answers.run_answer(job, view)
    return ended(app_db, job, view, end, time.monotonic() - started)


def usage_outcomes(app_db) -> list[str]:
    with Session(app_db) as session:
        return [r.outcome for r in session.exec(select(UsageRecord).order_by(UsageRecord.id))]


def assert_plain(text: str) -> None:
    assert text and len(text) < 200
    for word in NOT_PLAIN:
        assert word not in text, f"{word!r} in the user's message {text!r}"


async def upstream_outcome(emulator: EmulatorHandle, wanted: str, seconds: float = 3.0) -> str:
    """The emulator's outcome of the last ask, once it is `wanted` (the server notices a closed
    connection within a few event-loop turns) or when `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while True:
        outcome = (await asks(emulator))[-1]["outcome"]
        if outcome == wanted or time.monotonic() > deadline:
            return outcome
        await asyncio.sleep(0.05)


# --- every fault ends with the partial answer kept and a plain message ----------------------------


@pytest.mark.parametrize(
    ("fault", "error_type", "message_key", "partial", "retry"),
    [
        ("stall", fx.FabrixTimeout, "error_connection_lost", True, True),
        ("drop", fx.FabrixNetworkError, "error_connection_lost", True, True),
        ("stream_error", fx.FabrixUpstreamError, "error_upstream", True, True),
        ("unauthorized", fx.FabrixAuthError, "error_auth", False, False),
        ("server_error", fx.FabrixUnavailable, "error_unavailable", False, True),
        ("unavailable", fx.FabrixUnavailable, "error_unavailable", False, True),
        ("filter", fx.FabrixContentFiltered, "error_filtered", False, False),
    ],
)
async def test_fault_keeps_the_partial_answer_with_a_plain_message(
    app_db, user, fabrix, limiter, emulator, fault, error_type, message_key, partial, retry
) -> None:
    full = await answer(app_db, user, "How do I plan a project?")
    assert full.end.status == "complete" and full.text

    got = await answer(app_db, user, f"How do I plan a project? #fault:{fault}")

    assert got.end.status == "error"
    if partial:
        # Some chunks arrived before the fault: the user saw them and they are saved.
        assert got.text and full.text.startswith(got.text) and got.text != full.text
    else:
        assert got.text == "" and not any(b.added for b in got.batches)
    assert_plain(got.end.error)
    expected_start = i18n.t(message_key, "en", detail="").rstrip(": ")
    assert got.end.error.startswith(expected_start)
    assert got.end.retry is retry
    assert got.end.file_kept is False  # no file was attached
    assert usage_outcomes(app_db)[-1] == error_type.kind
    if fault == "stall":
        assert got.seconds < READ_TIMEOUT + 3  # ended by the read timeout, not by the emulator's 30 s stall


async def test_text_received_before_a_stall_is_saved_during_the_stall(app_db, user, fabrix, limiter) -> None:
    job = await ask(user, "q #fault:stall")
    view = RecordingView()
    started = time.monotonic()
    run = asyncio.create_task(answers.run_answer(job, view, save_interval=0.2))
    await asyncio.sleep(0.7)  # the chunks came at once, then nothing: 0.5 s past a save interval
    assert view.text and not run.done()
    row = saved(app_db, job.message_id)
    assert (row.content, row.status) == (view.text, "streaming"), "the partial answer is saved during the stall"
    got = ended(app_db, job, view, await run, time.monotonic() - started)
    assert got.end.status == "error" and got.end.error == i18n.t("error_connection_lost", "en")


async def test_filtered_answer_says_what_the_filter_said_in_the_users_language(app_db, user, fabrix, limiter) -> None:
    english = await answer(app_db, user, "something forbidden #fault:filter")
    assert "blocked by the content filter (demo)" in english.end.error
    korean = await answer(app_db, user, "something forbidden #fault:filter", lang="ko")
    assert "콘텐츠 필터에 의해 차단된 요청입니다" in korean.end.error
    assert korean.message.error == korean.end.error
    assert not english.end.retry and not korean.end.retry  # asking the same again is blocked again


async def test_upstream_429_honours_retry_after_in_the_limiter(
    app_db, user, fabrix, limiter, emulator, sleeps, monkeypatch
) -> None:
    penalties: list[float] = []
    real_penalize = limiter.penalize

    async def spy(retry_after: float) -> None:
        penalties.append(retry_after)
        await real_penalize(retry_after)

    monkeypatch.setattr(limiter, "penalize", spy)
    got = await answer(app_db, user, "busy? #fault:rate_limit")

    assert sleeps == [2.0, 2.0]  # Retry-After: 2 is short enough to retry inside the ask, twice
    assert penalties == [2.0]  # then every later request waits until FabriX's time is up
    assert got.text == "" and got.end.status == "error"
    assert got.end.error == "Server is busy, try again in 2 s." and got.end.retry
    assert usage_outcomes(app_db)[-1] == fx.FabrixRateLimited.kind
    assert [r["status"] for r in await asks(emulator)] == [429, 429, 429]
    snapshot = await limiter.snapshot()
    assert 1.0 < snapshot.current_wait_seconds <= 2.0


# --- retries ------------------------------------------------------------------------------------


async def test_one_server_error_before_the_first_byte_is_retried(app_db, user, fabrix, limiter, emulator) -> None:
    await set_fault(emulator, "server_error", count=1)
    got = await answer(app_db, user, "Explain retries")
    assert got.end.status == "complete" and "Explain retries" in got.text
    assert [r["status"] for r in await asks(emulator)] == [500, 200]
    assert usage_outcomes(app_db) == ["ok"]


async def test_a_drop_after_content_is_not_retried(app_db, user, fabrix, limiter, emulator, sleeps) -> None:
    got = await answer(app_db, user, "Explain retries #fault:drop")
    assert got.end.status == "error" and got.text
    log = await asks(emulator)
    assert len(log) == 1 and log[0]["outcome"] == "dropped"
    assert sleeps == []


async def test_agent_list_retries_server_errors_with_backoff(app_db, fabrix, emulator, sleeps) -> None:
    await set_fault(emulator, "server_error", count=2)
    agents = await chat_service.list_agents(refresh=True)
    assert [a.id for a in agents] == [a["agentId"] for a in AGENTS]
    assert [r["status"] for r in await request_log(emulator) if r["path"].endswith("/agents")] == [500, 500, 200]
    assert sleeps == [0.5, 1.0]


async def test_agent_list_gives_up_on_a_closed_port_with_a_plain_message(app_db, fabrix, sleeps, monkeypatch) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setattr(fabrix, "settings", fabrix.settings.model_copy(update={"base_url": f"http://127.0.0.1:{port}"}))
    with pytest.raises(fx.FabrixNetworkError) as info:
        await chat_service.list_agents(refresh=True)
    assert sleeps == [0.5, 1.0]  # three attempts, backing off
    assert i18n.error_text(info.value) == i18n.t("error_network", "en")


# --- Stop ----------------------------------------------------------------------------------------


async def test_stop_while_streaming_closes_the_request_and_keeps_the_partial_answer(
    app_db, user, fabrix, limiter, emulator
) -> None:
    job = await ask(user, "Tell me slowly #fault:slow")
    view = RecordingView()
    started = time.monotonic()
    run = asyncio.create_task(answers.run_answer(job, view))
    deadline = time.monotonic() + 3
    while not view.text:
        assert time.monotonic() < deadline, "no text streamed"
        await asyncio.sleep(0.05)
    await answers.request_stop(job.message_id)
    end = await asyncio.wait_for(run, 1)
    got = ended(app_db, job, view, end, time.monotonic() - started)

    assert got.end.status == "stopped" and got.text and got.end.error == ""
    assert await upstream_outcome(emulator, "disconnected") == "disconnected"
    assert usage_outcomes(app_db)[-1] == "stopped"


# --- the rate limiter as the user meets it ---------------------------------------------------------


async def test_over_budget_answer_waits_transparently_showing_waiting_for_capacity(
    app_db, user, fabrix, monkeypatch
) -> None:
    monkeypatch.setattr(chat_service, "_limiter", RateLimiter(rpm=1, tpm=BIG, window_seconds=2))
    first = await answer(app_db, user, "First question")
    assert first.end.status == "complete" and WAITING not in first.statuses

    second = await answer(app_db, user, "Second question", conversation_id=first.message.conversation_id)

    assert second.end.status == "complete" and "Second question" in second.text
    waited = next(i for i, b in enumerate(second.batches) if b.status == WAITING)
    first_text = next(i for i, b in enumerate(second.batches) if b.added)
    assert waited < first_text
    assert second.batches[waited].added == ""  # the notice is a status line, never part of the answer
    # The notice is cleared when the answer starts (at the latest with its first text).
    assert any(b.status == "" for b in second.batches[waited + 1 : first_text + 1])
    assert second.seconds > 0.5  # it really waited for the window to move


async def test_past_the_max_wait_the_user_is_told_the_real_wait(app_db, user, fabrix, emulator, monkeypatch) -> None:
    # A 30 s window with room for one request: the second would wait ~30 s, longer than chat's 10 s.
    monkeypatch.setattr(chat_service, "_limiter", RateLimiter(rpm=1, tpm=BIG, window_seconds=30))
    assert get_settings().rate_limit.chat_max_wait_seconds == 10
    first = await answer(app_db, user, "First question")
    assert first.end.status == "complete"
    await clear_request_log(emulator)

    second = await answer(app_db, user, "Second question")

    assert second.seconds < 1  # refused at once: sleeping 10 s and failing anyway helps no one
    busy = re.fullmatch(r"Server is busy, try again in (\d+) s\.", second.end.error)
    assert busy, second.end.error
    assert 25 <= int(busy[1]) <= 30
    assert second.end.status == "error" and second.end.retry
    assert await asks(emulator) == []  # FabriX was never asked
    assert usage_outcomes(app_db)[-1] == "busy"


async def test_short_max_wait_refuses_even_a_short_wait(app_db, user, fabrix, monkeypatch) -> None:
    monkeypatch.setattr(chat_service, "_limiter", RateLimiter(rpm=1, tpm=BIG, window_seconds=2))
    settings = get_settings()
    short = settings.model_copy(
        update={"rate_limit": settings.rate_limit.model_copy(update={"chat_max_wait_seconds": 0.5})}
    )
    monkeypatch.setattr(answers, "get_settings", lambda: short)
    await answer(app_db, user, "First question")
    second = await answer(app_db, user, "Second question")
    assert second.end.status == "error"
    assert second.end.error == "Server is busy, try again in 2 s."


async def test_stopping_while_waiting_for_capacity_records_a_stop(app_db, user, fabrix, emulator, monkeypatch) -> None:
    monkeypatch.setattr(chat_service, "_limiter", RateLimiter(rpm=1, tpm=BIG, window_seconds=5))
    await answer(app_db, user, "First question")
    await clear_request_log(emulator)
    job = await ask(user, "Second")
    view = RecordingView()
    started = time.monotonic()
    run = asyncio.create_task(answers.run_answer(job, view))
    await asyncio.sleep(0.3)
    assert view.batches == [Batch(1, "", WAITING)]
    await answers.request_stop(job.message_id)
    got = ended(app_db, job, view, await asyncio.wait_for(run, 1), time.monotonic() - started)
    assert got.end.status == "stopped" and got.text == ""
    assert usage_outcomes(app_db)[-1] == "stopped"
    assert await asks(emulator) == []


async def test_an_unexpected_failure_keeps_the_partial_answer_and_is_not_counted_ok(
    app_db, user, fabrix, limiter, monkeypatch
) -> None:
    real_stream = fabrix.stream_answer

    async def breaks_after_some_text(**kwargs: Any) -> AsyncIterator[Any]:
        async for event in real_stream(**kwargs):
            yield event
            if event.kind == "chunk":
                raise RuntimeError("a bug, not FabriX")

    monkeypatch.setattr(fabrix, "stream_answer", breaks_after_some_text)
    got = await answer(app_db, user, "Explain budgets")
    assert got.end.status == "error" and got.text
    assert got.end.error == i18n.t("error_generic", "en")
    assert usage_outcomes(app_db) == ["error"]  # the admin's usage page must not count it as answered


# --- the database failing while an answer ends ----------------------------------------------------


async def test_an_answer_that_ends_while_the_database_is_down_is_saved_once_it_is_back(
    app_db, user, fabrix, limiter, monkeypatch
) -> None:
    """A PostgreSQL restart or a full disk just as the answer ends: the page has the whole text,
    so the last save is tried again (the page is told it is being saved) until the database takes it."""
    from sqlalchemy.exc import OperationalError

    from fabrix_chat.models import Status
    from fabrix_chat.repo import conversations as conv_repo

    real_update = conv_repo.update_message
    refusals = [3]

    def database_down_at_the_end(*, session, status: str, **values: Any) -> bool:
        if status != Status.STREAMING and refusals[0] > 0:
            refusals[0] -= 1
            raise OperationalError("UPDATE messages", {}, Exception("server closed the connection unexpectedly"))
        return real_update(session=session, status=status, **values)

    monkeypatch.setattr(conv_repo, "update_message", database_down_at_the_end)
    monkeypatch.setattr(answers, "FINAL_SAVE_DELAYS", (0.05, 0.05, 0.05))
    got = await answer(app_db, user, "Explain budgets")

    assert refusals == [0]
    assert got.end.status == "complete" and "Explain budgets" in got.text
    assert (got.message.content, got.message.status) == (got.text, "complete")  # (checked by ended() too)
    assert i18n.t("saving_answer", "en") in got.statuses  # while it waited, the page said why


async def test_a_final_save_that_fails_with_a_bug_is_not_tried_again(app_db, user, monkeypatch, caplog) -> None:
    """Only the database being away is waited for: a bug would fail the same way for 10 minutes."""
    from fabrix_chat.models import Status
    from fabrix_chat.repo import conversations as conv_repo

    calls = []

    def broken_update(**values: Any) -> bool:
        calls.append(values["status"])
        raise ValueError("a bug in the UPDATE")

    monkeypatch.setattr(conv_repo, "update_message", broken_update)
    shown: list[str] = []

    async def waiting(text: str) -> None:
        shown.append(text)

    job = answers.AnswerJob(
        user_id=user.id,
        username="u",
        email="u@example.com",
        conversation_id=1,
        question_seq=0,
        message_id=1,
        agent_id="a",
        contents=("q",),
    )
    with caplog.at_level("ERROR"):
        saved = await answers.save_final(job, "text", Status.COMPLETE, waiting=waiting)
    assert saved is False and calls == [Status.COMPLETE] and shown == []
    assert "saving answer 1 (4 characters) failed" in caplog.text and "a bug in the UPDATE" in caplog.text


async def test_usage_of_an_answer_during_a_database_outage_is_recorded_once_it_is_back(
    app_db, user, fabrix, limiter, monkeypatch, caplog
) -> None:
    """The usage record (the admin's figures, the quota's seed) is written in the background once
    the database answers again; the periodic saves meanwhile log one line each, not a traceback."""
    from sqlalchemy.exc import OperationalError

    from fabrix_chat.repo import usage as usage_repo

    real_record = usage_repo.record_usage
    refusals = [2]

    def database_down(**values: Any) -> None:
        if refusals[0] > 0:
            refusals[0] -= 1
            raise OperationalError("INSERT INTO usage", {}, Exception("server closed the connection unexpectedly"))
        return real_record(**values)

    monkeypatch.setattr(usage_repo, "record_usage", database_down)
    monkeypatch.setattr(answers, "FINAL_SAVE_DELAYS", (0.05, 0.05, 0.05))
    with caplog.at_level("WARNING"):
        got = await answer(app_db, user, "Explain budgets")
        assert got.end.status == "complete"
        for _ in range(100):
            if not answers._PENDING_RECORDS:
                break
            await asyncio.sleep(0.02)
    assert refusals == [0]
    assert usage_outcomes(app_db) == ["ok"]
    assert not [r for r in caplog.records if r.exc_info]  # an outage is not a bug: no traceback
