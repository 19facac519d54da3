"""The servers the app depends on failing while people use it (issue 14), in a real browser against
two back-end workers on Redis and PostgreSQL: FabriX refusing connections and then answering
slowly, PostgreSQL restarted, Redis restarted, the data disk full. For each: what the user sees
(a plain alert, Retry where it helps), that nothing already received is lost, and that it works
again without restarting the app. How long that takes, with 10 users, is measured by
bench/bench_dependency_failures.py (README, "Benchmarks"), not asserted here.

FabriX is the emulator behind tests/fault_proxy.py, Redis tests/redis_server.RestartableRedis,
PostgreSQL tests/integration/pg.py's server, and the data folder a 64 MB tmpfs (tests/small_disk.py;
the disk test is skipped, saying why, where mounting is not allowed).
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import text

from fabrix_chat.db import make_engine
from rxconfig import OPLOCK_HOLD_SECONDS
from tests.e2e.conftest import AppServer, ask, sign_up, start_app, stop_app
from tests.e2e.test_files import chip, choose_file
from tests.fault_proxy import FaultProxy
from tests.integration import pg
from tests.redis_server import RestartableRedis
from tests.small_disk import SmallDisk, SmallDiskUnavailable, small_disk

pytestmark = pytest.mark.browser

ANSWER = "article[data-message-role='assistant']"
QUESTION = "article[data-message-role='user']"
BUSY = f"{ANSWER}[aria-busy='true']"
INVITE = "Faults2027Key"
# Internals a user must never read; Reflex's own "Contact the website administrator" toast included.
NOT_PLAIN = re.compile(r"HTTP|Traceback|Exception|Error \d|127\.0\.0\.1|psycopg|redis\.|Contact the website")
END = "for real answers"  # the last line of every demo answer
SLOW_SECONDS = 0.15  # between the chunks of a `#fault:slow` answer: it streams for about 8 s


@dataclass
class Stack:
    app: AppServer
    database_url: str
    postgres: pg.ServerControl
    redis: RestartableRedis
    proxy: FaultProxy
    disk: SmallDisk | None
    disk_problem: str

    def answers(self, username: str) -> list[dict[str, Any]]:
        """The user's answers in the database, oldest first."""
        engine = make_engine(self.database_url)
        try:
            with engine.connect() as db:
                rows = db.execute(
                    text(
                        "SELECT m.status, m.content, m.error, m.conversation_id FROM messages m JOIN conversations c"
                        " ON c.id = m.conversation_id JOIN users u ON u.id = c.user_id"
                        " WHERE u.username = :username AND m.role = 'assistant' ORDER BY m.id"
                    ),
                    {"username": username},
                ).all()
        finally:
            engine.dispose()
        return [
            {"status": r.status, "content": r.content, "error": r.error, "conversation": r.conversation_id}
            for r in rows
        ]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, build_lock) -> Iterator[Stack]:
    from fabrix_chat.emulator import start_in_thread

    bindir = pg.find_bindir()
    if bindir is None:
        pytest.skip(pg.SKIP_REASON)
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed (Debian package redis-server)")
    root = tmp_path_factory.mktemp("dependencies")
    with contextlib.ExitStack() as cleanup:
        emulator = start_in_thread(latency=0, slow_latency=SLOW_SECONDS)
        cleanup.callback(emulator.stop)
        proxy = FaultProxy(emulator.port)
        cleanup.callback(proxy.close)
        redis = RestartableRedis(root / "redis")
        redis.start()
        cleanup.callback(redis.stop, keep_data=False)
        database_url = cleanup.enter_context(pg.running_postgres(bindir, database="fabrix_faults"))
        postgres = pg.ServerControl(database_url, bindir)
        disk, disk_problem = None, ""
        try:
            disk = cleanup.enter_context(small_disk(root / "data", size_mb=64))
        except SmallDiskUnavailable as exc:
            disk_problem = str(exc)
        toml = (
            f'[fabrix_api]\nbase_url = "{proxy.url}"\nclient_key = "{emulator.client_key}"\n'
            f'openapi_token = "{emulator.token}"\nclient_header = "{emulator.client_header}"\n'
            f'[auth]\nadmin_signup_key = "{INVITE}"\n'
            f'[security]\nsecret_key = "{secrets.token_urlsafe(32)}"\n'
            f'[rate_limit]\nredis_url = "{redis.url}"\n'
            f'[database]\nurl = "{database_url}"\n'
            "[upload]\nmin_free_mb = 8\n"  # the default (1024) is more than the whole small disk
        )
        app = start_app(root / "data", toml, workers=2, out_dir=root)
        cleanup.callback(stop_app, app.process)
        yield Stack(app, database_url, postgres, redis, proxy, disk, disk_problem)


@pytest.fixture
def user_page(stack, context) -> tuple[Page, str]:
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page, sign_up(page, stack.app.url, invite_key=INVITE)


def streaming_text(page: Page) -> str:
    """Wait until the streaming answer shows some of its words (not FabriX's status line); returns them."""
    text = page.locator(f"{BUSY} .bubble > div:not(.stream-status)")
    expect(text).to_contain_text(re.compile(r"\w{3,}\W+\w{3,}"), timeout=20_000)
    return text.inner_text()


def wait_until_answered(page: Page, timeout: float = 60_000) -> None:
    expect(page.locator(BUSY)).to_have_count(0, timeout=timeout)
    expect(page.get_by_role("button", name="Send message")).to_be_visible(timeout=timeout)


def answered(page: Page, count: int, question: str, timeout: float = 60_000) -> str:
    """Wait until the page shows `count` answers, the last one to `question` complete (every demo
    answer is headed by its question and ends with END), and nothing streams; returns its text."""
    expect(page.locator(ANSWER)).to_have_count(count, timeout=timeout)
    bubble = page.locator(f"{ANSWER} .bubble").last
    expect(bubble).to_contain_text(question, timeout=timeout)
    expect(bubble).to_contain_text(END, timeout=timeout)
    wait_until_answered(page, timeout)
    return last_answer(page)


def last_answer(page: Page) -> str:
    """The text of the last answer's bubble (its markdown, rendered), spaces normalised."""
    return " ".join(page.locator(f"{ANSWER} .bubble").last.inner_text().split())


def kept_after_reload(page: Page) -> None:
    """The page shows an answer as it streamed; after a reload it shows it from the database:
    the same text, so nothing the user received was lost."""
    shown = last_answer(page)
    page.reload()
    expect(page.locator(ANSWER).last).to_be_visible()
    wait_until_answered(page)
    assert last_answer(page) == shown


def plain(page: Page) -> None:
    for alert in page.get_by_role("alert").all():
        assert not NOT_PLAIN.search(alert.inner_text()), alert.inner_text()
    assert page.get_by_text("Contact the website administrator").count() == 0


def test_fabrix_refusing_then_slow(stack, user_page) -> None:
    page, username = user_page
    ask(page, "Plan the rollout of the new badge readers #fault:slow")
    streaming_text(page)
    stack.proxy.refuse()  # FabriX goes down: the open stream is cut, new connections are refused
    try:
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("The connection to FabriX was lost during the answer", timeout=30_000)
        expect(alert.get_by_role("button", name="Retry")).to_be_visible()
        [cut] = stack.answers(username)
        assert cut["status"] == "error" and cut["content"].startswith("## Plan the rollout")
        kept_after_reload(page)

        ask(page, "Is FabriX back yet?")
        expect(alert).to_contain_text("Could not reach FabriX", timeout=30_000)
        expect(alert.get_by_role("button", name="Retry")).to_be_visible()
        plain(page)
    finally:
        stack.proxy.accept(first_byte=1.5, per_read=0.02)  # back, but slow
    try:
        alert.get_by_role("button", name="Retry").click()
        answered(page, 2, "Is FabriX back yet?")
        expect(page.get_by_role("alert")).to_have_count(0)
        assert [a["status"] for a in stack.answers(username)] == ["error", "complete"]
    finally:
        stack.proxy.accept()


def test_postgres_restart(stack, user_page, browser) -> None:
    """An answer ending while PostgreSQL is down waits for it ("Saving the answer…") instead of
    losing its text; a question asked meanwhile gets a plain alert and goes back into the box."""
    page, username = user_page
    other_context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        other = other_context.new_page()
        other.set_default_timeout(15_000)
        sign_up(other, stack.app.url, invite_key=INVITE)
        ask(page, "Write the safety briefing for the lab #fault:slow")
        streaming_text(page)
        stack.postgres.stop()
        try:
            ask(other, "Is the database there?")
            alert = other.get_by_role("alert")
            expect(alert).to_contain_text("cannot reach its database", timeout=30_000)
            expect(alert.get_by_role("button", name="Dismiss")).to_be_visible()
            expect(other.get_by_role("textbox", name="Message", exact=True)).to_have_value("Is the database there?")
            plain(other)
            # The streaming answer has all its text and waits for the database to save it.
            expect(page.locator(BUSY)).to_contain_text("Saving the answer", timeout=40_000)
        finally:
            stack.postgres.start()
        answered(page, 1, "Write the safety briefing for the lab")
        [saved] = stack.answers(username)
        assert saved["status"] == "complete" and "for real answers" in saved["content"]
        kept_after_reload(page)

        alert.get_by_role("button", name="Dismiss").click()
        expect(other.get_by_role("alert")).to_have_count(0)
        other.get_by_role("textbox", name="Message", exact=True).press("Enter")  # the question given back
        answered(other, 1, "Is the database there?")
    finally:
        other_context.close()


def test_redis_restart(stack, user_page) -> None:
    """Redis (every tab's state) restarted in the middle of an answer: the answer ends on the page
    and in the database, with its question, and the next question is answered."""
    page, username = user_page
    ask(page, "Summarise the travel policy #fault:slow")
    streaming_text(page)
    stack.redis.restart(down_seconds=2)
    answered(page, 1, "Summarise the travel policy", timeout=90_000)
    expect(page.locator(QUESTION).last).to_contain_text("Summarise the travel policy")
    [saved] = stack.answers(username)
    assert saved["status"] == "complete" and "for real answers" in saved["content"]
    plain(page)

    ask(page, "And the expense limits?")
    expect(page.locator(QUESTION).last).to_contain_text("And the expense limits?", timeout=30_000)
    answered(page, 2, "And the expense limits?")
    assert [a["status"] for a in stack.answers(username)] == ["complete", "complete"]
    kept_after_reload(page)
    plain(page)


def test_redis_back_empty(stack, user_page, tmp_path) -> None:
    """Redis restarted without its data (no persistence): every open tab's state is gone, while the
    page still shows its conversation. A question typed there goes into that conversation, not a
    new chat, and nothing saved is lost."""
    page, username = user_page
    ask(page, "Where is the travel policy?")
    answered(page, 1, "Where is the travel policy?")
    shown_at = page.url
    # Past the worker's hold of the tab's state (rxconfig.OPLOCK_HOLD_SECONDS): only Redis has it.
    page.wait_for_timeout((OPLOCK_HOLD_SECONDS + 1) * 1000)
    stack.redis.restart(down_seconds=1, keep_data=False)

    ask(page, "And the expense limits?")
    answered(page, 2, "And the expense limits?", timeout=60_000)
    assert page.url == shown_at
    saved = stack.answers(username)
    assert [a["status"] for a in saved] == ["complete", "complete"]
    assert saved[0]["conversation"] == saved[1]["conversation"]
    expect(page.locator(QUESTION)).to_have_count(2)
    kept_after_reload(page)
    plain(page)


def test_disk_full(stack, user_page, tmp_path) -> None:
    """The data disk at its last few MB: a file is refused with a plain message, answers go on
    (the database is elsewhere), and once space is freed files are taken again."""
    if stack.disk is None:
        pytest.skip(stack.disk_problem)
    page, username = user_page
    notes = tmp_path / "notes.txt"
    notes.write_text("Quarterly numbers, line after line.\n" * 30_000)  # about 1 MB
    stack.disk.fill(leave_mb=2)
    try:
        choose_file(page, notes)
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("almost out of disk space", timeout=30_000)
        expect(chip(page)).to_have_count(0)
        plain(page)
        alert.get_by_role("button", name="Dismiss").click()
        ask(page, "What should the quarterly report contain?")
        answered(page, 1, "What should the quarterly report contain?")
        assert [a["status"] for a in stack.answers(username)] == ["complete"]
    finally:
        stack.disk.free_space()
    choose_file(page, notes)
    expect(chip(page)).to_contain_text("notes.txt", timeout=30_000)
