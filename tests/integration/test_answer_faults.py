"""Upstream faults through the app's own answer path: services/chat.consume_answer against the real
emulator over real HTTP, with the answer saved the way the chat page saves it.

For every fault: the partial text reaches update(), the right error is raised, its plain message
is what the user sees, and the database keeps the partial answer marked as an error. Also the
retry rules (agent list: retried with backoff; ask: only before the first byte) and the rate-limit
experience (a transparent wait with "waiting for capacity", then "Server is busy, try again in N s").
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlmodel import Session, select

from fabrix_chat import i18n
from fabrix_chat.config import get_settings
from fabrix_chat.fabrix import client as client_module
from fabrix_chat.fabrix import errors as fx
from fabrix_chat.fabrix.client import FabrixClient, make_http_client
from fabrix_chat.fabrix.emulator import AGENTS, EmulatorHandle, start_in_thread
from fabrix_chat.fabrix.limiter import RateLimited, RateLimiter
from fabrix_chat.models import Message, UsageRecord, User
from fabrix_chat.services import chat as chat_service
from fabrix_chat.state.chat import SAVE_INTERVAL, _StreamBuffer, pump_answer

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


@dataclass
class Outcome:
    """What one answer run produced: update() calls, what the page showed and saved, the error, the row."""

    updates: list[dict[str, str]] = field(default_factory=list)
    published: list[tuple[str, str]] = field(default_factory=list)  # (text, status) sent to the page
    saves: list[str] = field(default_factory=list)  # texts saved while streaming
    error: BaseException | None = None
    message: Message | None = None
    seconds: float = 0.0

    @property
    def text(self) -> str:
        return "".join(u.get("text") or "" for u in self.updates)

    @property
    def statuses(self) -> list[str]:
        return [u["status"] for u in self.updates if u.get("status")]


async def answer(
    app_db, user: User, question: str, *, conversation_id: int = 0, save_interval: float = SAVE_INTERVAL
) -> Outcome:
    """Save the question, then run the chat page's own loop (`pump_answer`) without Reflex.

    consume_answer fills the page's `_StreamBuffer`; pump_answer publishes it (recorded here
    instead of sent to a browser) and saves it while it streams; the last save follows the page's
    rule: status "error" with the plain message on a failure.
    """
    prepared = await chat_service.run_db(
        chat_service.prepare_question,
        user_id=user.id,
        conversation_id=conversation_id,
        agent_id=AGENT,
        question=question,
    )
    job = {
        "user_id": user.id,
        "username": user.username,
        "email": user.email,
        "agent_id": AGENT,
        "message_id": prepared.answer_id,
        "conversation_id": prepared.conversation_id,
        "contents": prepared.contents,
        "lang": "en",
    }
    buffer = _StreamBuffer()
    outcome = Outcome()

    def update(**values: str) -> None:
        outcome.updates.append(values)
        buffer.update(**values)

    async def publish(text: str, status: str) -> bool:
        outcome.published.append((text, status))
        return True

    async def save(text: str) -> None:
        outcome.saves.append(text)
        await chat_service.save_answer(job, text, "streaming")

    started = time.monotonic()
    consumer = asyncio.create_task(chat_service.consume_answer(job, update))
    await pump_answer(consumer, buffer, publish, save, save_interval=save_interval)
    try:
        consumer.result()
    except Exception as exc:  # the page turns every failure into a saved error and an alert
        outcome.error = exc
        await chat_service.save_answer(job, buffer.text, "error", chat_service.plain_error(exc, "en"))
    else:
        await chat_service.save_answer(job, buffer.text, "complete")
    outcome.seconds = time.monotonic() - started
    assert buffer.text == outcome.text  # what update() was given is what the page holds
    # The page saw the answer grow; its end reaches the page in the finished message (buffer.text).
    assert all(outcome.text.startswith(text) for text, _ in outcome.published)
    with Session(app_db) as session:
        outcome.message = session.get(Message, prepared.answer_id)
    return outcome


def usage_outcomes(app_db) -> list[str]:
    with Session(app_db) as session:
        return [r.outcome for r in session.exec(select(UsageRecord).order_by(UsageRecord.id))]


def assert_plain(text: str) -> None:
    assert text and len(text) < 200
    for word in NOT_PLAIN:
        assert word not in text, f"{word!r} in the user's message {text!r}"


# --- every fault ends with the partial answer kept and a plain message ----------------------------


@pytest.mark.parametrize(
    ("fault", "error_type", "message_key", "partial"),
    [
        ("stall", fx.FabrixTimeout, "error_connection_lost", True),
        ("drop", fx.FabrixNetworkError, "error_connection_lost", True),
        ("stream_error", fx.FabrixUpstreamError, "error_upstream", True),
        ("unauthorized", fx.FabrixAuthError, "error_auth", False),
        ("server_error", fx.FabrixUnavailable, "error_unavailable", False),
        ("unavailable", fx.FabrixUnavailable, "error_unavailable", False),
        ("filter", fx.FabrixContentFiltered, "error_filtered", False),
    ],
)
async def test_fault_keeps_the_partial_answer_with_a_plain_message(
    app_db, user, fabrix, limiter, emulator, fault, error_type, message_key, partial
) -> None:
    full = await answer(app_db, user, "How do I plan a project?")
    assert full.error is None and full.message.status == "complete"

    got = await answer(app_db, user, f"How do I plan a project? #fault:{fault}")

    assert isinstance(got.error, error_type), repr(got.error)
    if partial:
        # Some chunks arrived before the fault: the user saw them and they are saved.
        assert got.text and full.text.startswith(got.text) and got.text != full.text
        assert got.error.received_any is True
    else:
        assert got.text == ""
    assert got.message.content == got.text
    assert got.message.status == "error"
    plain = chat_service.plain_error(got.error, "en")
    assert got.message.error == plain
    assert_plain(plain)
    expected_start = i18n.t(message_key, "en", detail="").rstrip(": ")
    assert plain.startswith(expected_start)
    assert usage_outcomes(app_db)[-1] == error_type.kind
    if fault == "stall":
        assert got.seconds < READ_TIMEOUT + 3  # ended by the read timeout, not by the emulator's 30 s stall


async def test_text_received_before_a_stall_is_saved_during_the_stall(app_db, user, fabrix, limiter) -> None:
    prepared = await chat_service.run_db(
        chat_service.prepare_question, user_id=user.id, conversation_id=0, agent_id=AGENT, question="q #fault:stall"
    )
    job = {
        "user_id": user.id,
        "username": user.username,
        "agent_id": AGENT,
        "message_id": prepared.answer_id,
        "conversation_id": prepared.conversation_id,
        "contents": prepared.contents,
    }
    buffer = _StreamBuffer()

    async def publish(text: str, status: str) -> bool:
        return True

    async def save(text: str) -> None:
        await chat_service.save_answer(job, text, "streaming")

    consumer = asyncio.create_task(chat_service.consume_answer(job, buffer.update))
    pump = asyncio.create_task(pump_answer(consumer, buffer, publish, save, save_interval=0.2))
    try:
        await asyncio.sleep(0.7)  # the chunks came at once, then nothing: 0.5 s past a save interval
        assert buffer.text and not consumer.done()
        with Session(app_db) as session:
            saved = session.get(Message, prepared.answer_id)
            assert saved.content == buffer.text, "the partial answer is in the database during the stall"
    finally:
        await pump
        with pytest.raises(fx.FabrixTimeout):
            consumer.result()


async def test_filtered_answer_says_what_the_filter_said_in_the_users_language(app_db, user, fabrix, limiter) -> None:
    got = await answer(app_db, user, "something forbidden #fault:filter")
    assert isinstance(got.error, fx.FabrixContentFiltered)
    assert "blocked by the content filter (demo)" in chat_service.plain_error(got.error, "en")
    korean = chat_service.plain_error(got.error, "ko")
    assert "콘텐츠 필터에 의해 차단된 요청입니다" in korean
    assert not chat_service.retry_makes_sense(got.error)


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

    assert isinstance(got.error, fx.FabrixRateLimited) and got.error.retry_after == 2.0
    assert sleeps == [2.0, 2.0]  # Retry-After: 2 is short enough to retry inside the ask, twice
    assert penalties == [2.0]  # then every later request waits until FabriX's time is up
    assert got.text == "" and got.message.status == "error"
    assert got.message.error == "Server is busy, try again in 2 s."
    assert [r["status"] for r in await asks(emulator)] == [429, 429, 429]
    snapshot = await limiter.snapshot()
    assert 1.0 < snapshot.current_wait_seconds <= 2.0


# --- retries ------------------------------------------------------------------------------------


async def test_one_server_error_before_the_first_byte_is_retried(app_db, user, fabrix, limiter, emulator) -> None:
    await set_fault(emulator, "server_error", count=1)
    got = await answer(app_db, user, "Explain retries")
    assert got.error is None
    assert "Explain retries" in got.text and got.message.status == "complete"
    assert got.message.content == got.text
    assert [r["status"] for r in await asks(emulator)] == [500, 200]
    assert usage_outcomes(app_db) == ["ok"]


async def test_a_drop_after_content_is_not_retried(app_db, user, fabrix, limiter, emulator, sleeps) -> None:
    got = await answer(app_db, user, "Explain retries #fault:drop")
    assert isinstance(got.error, fx.FabrixNetworkError) and got.text
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
    monkeypatch.setattr(fabrix, "settings", replace(fabrix.settings, base_url=f"http://127.0.0.1:{port}"))
    with pytest.raises(fx.FabrixNetworkError) as info:
        await chat_service.list_agents(refresh=True)
    assert sleeps == [0.5, 1.0]  # three attempts, backing off
    assert chat_service.plain_error(info.value) == i18n.t("error_network", "en")


# --- the rate limiter as the user meets it ---------------------------------------------------------


async def test_over_budget_answer_waits_transparently_showing_waiting_for_capacity(
    app_db, user, fabrix, monkeypatch
) -> None:
    monkeypatch.setattr(chat_service, "_limiter", RateLimiter(rpm=1, tpm=BIG, window_seconds=2))
    first = await answer(app_db, user, "First question")
    assert first.error is None and WAITING not in first.statuses

    second = await answer(app_db, user, "Second question", conversation_id=first.message.conversation_id)

    assert second.error is None and second.message.status == "complete"
    assert "Second question" in second.text and second.message.content == second.text
    waited = next(i for i, u in enumerate(second.updates) if u.get("status") == WAITING)
    first_text = next(i for i, u in enumerate(second.updates) if u.get("text"))
    assert waited < first_text
    assert any(u.get("status") == "" for u in second.updates[waited:first_text])  # the notice is cleared
    assert second.seconds > 0.5  # it really waited for the window to move


async def test_past_the_max_wait_the_user_is_told_the_real_wait(app_db, user, fabrix, emulator, monkeypatch) -> None:
    # A 30 s window with room for one request: the second would wait ~30 s, longer than chat's 10 s.
    monkeypatch.setattr(chat_service, "_limiter", RateLimiter(rpm=1, tpm=BIG, window_seconds=30))
    assert get_settings().rate_limit.chat_max_wait_seconds == 10
    first = await answer(app_db, user, "First question")
    assert first.error is None
    await clear_request_log(emulator)

    second = await answer(app_db, user, "Second question")

    assert isinstance(second.error, RateLimited)
    assert second.seconds < 1  # refused at once: sleeping 10 s and failing anyway helps no one
    seconds = math.ceil(second.error.retry_after)
    assert 25 <= seconds <= 30
    plain = chat_service.plain_error(second.error, "en")
    assert plain == f"Server is busy, try again in {seconds} s."
    assert second.message.status == "error" and second.message.error == plain
    assert await asks(emulator) == []  # FabriX was never asked
    assert usage_outcomes(app_db)[-1] == "busy"


async def test_short_max_wait_refuses_even_a_short_wait(app_db, user, fabrix, monkeypatch) -> None:
    monkeypatch.setattr(chat_service, "_limiter", RateLimiter(rpm=1, tpm=BIG, window_seconds=2))
    settings = get_settings()
    short = replace(settings, rate_limit=replace(settings.rate_limit, chat_max_wait_seconds=0.5))
    monkeypatch.setattr(chat_service, "get_settings", lambda: short)
    await answer(app_db, user, "First question")
    second = await answer(app_db, user, "Second question")
    assert isinstance(second.error, RateLimited)
    assert chat_service.plain_error(second.error) == "Server is busy, try again in 2 s."


async def test_stopping_while_waiting_for_capacity_records_a_stop(app_db, user, fabrix, emulator, monkeypatch) -> None:
    monkeypatch.setattr(chat_service, "_limiter", RateLimiter(rpm=1, tpm=BIG, window_seconds=5))
    await answer(app_db, user, "First question")
    await clear_request_log(emulator)
    prepared = await chat_service.run_db(
        chat_service.prepare_question, user_id=user.id, conversation_id=0, agent_id=AGENT, question="Second"
    )
    job = {
        "user_id": user.id,
        "username": user.username,
        "agent_id": AGENT,
        "message_id": prepared.answer_id,
        "contents": prepared.contents,
    }
    statuses: list[str] = []
    task = asyncio.create_task(chat_service.consume_answer(job, lambda **v: statuses.append(v.get("status", ""))))
    await asyncio.sleep(0.3)
    assert statuses == [WAITING]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
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
    assert isinstance(got.error, RuntimeError)
    assert got.text and got.message.content == got.text and got.message.status == "error"
    assert got.message.error == i18n.t("error_generic", "en")
    assert usage_outcomes(app_db) == ["error"]  # the admin's usage page must not count it as answered
