"""Outgrowing one machine: the app on PostgreSQL and Redis, with several back-end processes.

Two app instances share one database (PostgreSQL when the Debian package is installed, else one
SQLite file) and one real redis-server: instance A runs two back-end workers (granian), instance B
one. With `rate_limit.redis_url` set, Reflex keeps its state in Redis and the FabriX rate limit is
one budget for every process: `rpm = 3` admits three questions across A and B, and the fourth
(on B, which alone has asked only twice) is refused with "Server is busy, try again in N s".
Stop pressed on B ends an answer streaming on A within a second (through Redis).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import redis
from playwright.sync_api import expect
from sqlalchemy import text

from fabrix_chat.db import make_engine
from tests.e2e.conftest import AppServer, ask, sign_up, start_app, stop_app
from tests.integration import pg
from tests.redis_server import redis_server as run_redis_server

pytestmark = pytest.mark.browser

ANSWER = "article[data-message-role='assistant']"
QUESTION = "article[data-message-role='user']"
RPM = 3
LIMITER_KEYS = "fabrix:ratelimit*"


@dataclass
class Cluster:
    a: AppServer  # two back-end workers
    b: AppServer  # one back-end worker
    redis: redis.Redis
    database_url: str

    @property
    def postgresql(self) -> bool:
        return self.database_url.startswith("postgresql")

    def reset_rate_limit(self) -> None:
        keys = list(self.redis.scan_iter(match=LIMITER_KEYS))
        if keys:
            self.redis.delete(*keys)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[redis.Redis]:
    with run_redis_server("scale-out tests skipped") as port:
        client = redis.Redis(port=port)
        try:
            yield client
        finally:
            client.close()


@pytest.fixture(scope="module")
def database_url(tmp_path_factory) -> Iterator[str]:
    """A PostgreSQL database when the server is installed, else one SQLite file both instances share."""
    bindir = pg.find_bindir()
    if bindir is None:
        yield f"sqlite:///{(tmp_path_factory.mktemp('shared') / 'shared.db').as_posix()}"
        return
    with pg.running_postgres(bindir, database="fabrix_app") as url:
        yield url


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, build_lock, redis_server, database_url) -> Iterator[Cluster]:
    port = redis_server.connection_pool.connection_kwargs["port"]
    shared = (
        f'[security]\nsecret_key = "{secrets.token_urlsafe(32)}"\n'
        f'[rate_limit]\nrpm = {RPM}\nredis_url = "redis://127.0.0.1:{port}/0"\n'
        f'[database]\nurl = "{database_url}"\n'
    )
    root = tmp_path_factory.mktemp("cluster")
    a = start_app(root / "a", shared, workers=2)
    try:
        b = start_app(root / "b", shared, workers=1)
    except BaseException:
        stop_app(a.process)
        raise
    try:
        yield Cluster(a=a, b=b, redis=redis_server, database_url=database_url)
    finally:
        stop_app(b.process)
        stop_app(a.process)


def worker_pids(server: AppServer) -> set[str]:
    return set(re.findall(r"Started server process \[(\d+)\]", server.log_path.read_text(encoding="utf-8")))


def wait_for_answer(page, count: int) -> str:
    """The text of the `count`-th answer of the page, once it has finished."""
    expect(page.locator(f"{ANSWER}:not([aria-busy='true'])")).to_have_count(count, timeout=60_000)
    expect(page.locator(f"{ANSWER}[aria-busy='true']")).to_have_count(0)
    return page.locator(ANSWER).nth(count - 1).inner_text()


def test_two_workers_keep_state_in_redis_and_rows_in_the_shared_database(cluster: Cluster, context) -> None:
    assert len(worker_pids(cluster.a)) == 2, "instance A runs two back-end worker processes"
    assert len(worker_pids(cluster.b)) == 1
    cluster.reset_rate_limit()
    page = context.new_page()
    page.set_default_timeout(15_000)
    username = sign_up(page, cluster.a.url)
    ask(page, "How do we scale out?")
    answer = wait_for_answer(page, 1)
    assert "scale out" in answer
    expect(page).to_have_url(re.compile(r"/chat/\d+$"))
    conversation = int(page.url.rsplit("/", 1)[1])

    # Reflex's own state lives in Redis now, beside the limiter's keys.
    reflex_keys = [k for k in cluster.redis.scan_iter() if not k.startswith(b"fabrix:")]
    assert reflex_keys, "no Reflex state in Redis"
    # A fresh connection may land on either worker: the page comes back signed in with the conversation.
    for _ in range(3):
        page.reload()
        expect(page.locator(QUESTION)).to_contain_text("How do we scale out?")
        expect(page.locator(ANSWER)).to_have_count(1)

    engine = make_engine(cluster.database_url)
    try:
        with engine.connect() as db:
            rows = db.execute(
                text(
                    "SELECT m.role, m.status, m.content FROM messages m JOIN conversations c "
                    "ON c.id = m.conversation_id JOIN users u ON u.id = c.user_id "
                    "WHERE u.username = :username AND c.id = :cid ORDER BY m.seq"
                ),
                {"username": username, "cid": conversation},
            ).all()
    finally:
        engine.dispose()
    assert [(r.role, r.status) for r in rows] == [("user", "complete"), ("assistant", "complete")]
    assert rows[0].content == "How do we scale out?" and "scale out" in rows[1].content


def test_the_app_runs_on_postgresql(cluster: Cluster) -> None:
    if not cluster.postgresql:
        pytest.skip(pg.SKIP_REASON)
    engine = make_engine(cluster.database_url)
    try:
        with engine.connect() as db:
            assert engine.dialect.name == "postgresql"
            assert db.execute(text("SELECT count(*) FROM users")).scalar_one() >= 1
            assert db.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()


def test_rpm_limit_is_one_budget_across_instances(cluster: Cluster, context) -> None:
    cluster.reset_rate_limit()
    on_a = context.new_page()
    on_a.set_default_timeout(15_000)
    sign_up(on_a, cluster.a.url)
    for n in (1, 2):
        ask(on_a, f"Question {n} on A")
        assert f"Question {n} on A" in wait_for_answer(on_a, n)

    on_b = context.new_page()  # the session cookie is per host, so the same user is signed in on B
    on_b.set_default_timeout(15_000)
    on_b.goto(f"{cluster.b.url}/chat")
    expect(on_b.get_by_label("Agent")).to_contain_text("General Assistant")
    ask(on_b, "Question 3 on B")
    assert "Question 3 on B" in wait_for_answer(on_b, 1)
    expect(on_b.get_by_role("alert")).to_have_count(0)

    # B has asked once, A twice: a limit per process would still admit this one.
    ask(on_b, "Question 4 on B")
    alert = on_b.get_by_role("alert")
    expect(alert).to_contain_text("Server is busy, try again in", timeout=30_000)
    seconds = int(re.search(r"try again in (\d+) s", alert.inner_text()).group(1))
    assert 30 <= seconds <= 60, "the real wait: until the first of the three leaves the one-minute window"
    expect(alert.get_by_role("button", name="Retry")).to_be_visible()
    assert cluster.redis.llen("fabrix:ratelimit:w:requests") == RPM


def emulator_urls(server: AppServer) -> list[str]:
    """The demo emulators of an instance (each back-end worker process runs its own)."""
    return re.findall(r"built-in FabriX emulator at (http://[\d.:]+)", server.log_path.read_text(encoding="utf-8"))


def upstream_request(server: AppServer, marker: str) -> dict | None:
    """The emulator's log entry of the question containing `marker`, from whichever worker got it."""
    for url in emulator_urls(server):
        for entry in httpx.get(f"{url}/_emulator/requests", timeout=5).json():
            if marker in json.dumps(entry.get("body", ""), ensure_ascii=False):
                return entry
    return None


def test_stop_on_another_instance_ends_the_answer_at_once(cluster: Cluster, browser) -> None:
    """The answer streams on A; the same user opens the conversation on B and presses Stop: the
    upstream request on A is closed within a second and the saved answer is marked stopped."""
    cluster.reset_rate_limit()
    on_a = browser.new_context(viewport={"width": 1280, "height": 900})
    on_b = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page_a, page_b = on_a.new_page(), on_b.new_page()
        for page in (page_a, page_b):
            page.set_default_timeout(15_000)
        username = sign_up(page_a, cluster.a.url)
        marker = f"slow-{secrets.token_hex(4)}"
        ask(page_a, f"Explain {marker} slowly #fault:slow")
        streaming = page_a.locator(f"{ANSWER}[aria-busy='true']")
        expect(streaming).to_contain_text(re.compile(r"\w{3,}"))
        expect(page_a).to_have_url(re.compile(r"/chat/\d+$"))
        conversation = page_a.url.rsplit("/", 1)[1]

        page_b.goto(f"{cluster.b.url}/login")
        page_b.get_by_label("Username").fill(username)
        page_b.get_by_label("Password", exact=True).fill("correct-horse-9")
        page_b.get_by_role("button", name="Log in").click()
        page_b.wait_for_url(re.compile(r"/chat/?$"))
        page_b.goto(f"{cluster.b.url}/chat/{conversation}")
        expect(page_b.get_by_text("Still being written in another window…")).to_be_visible()
        entry = upstream_request(cluster.a, marker)
        assert entry is not None and entry.get("outcome") != "disconnected"

        page_b.get_by_role("button", name="Stop generating").click()
        pressed = time.monotonic()
        while (entry := upstream_request(cluster.a, marker)) and entry.get("outcome") != "disconnected":
            assert time.monotonic() - pressed < 5, f"the upstream request was not closed: {entry}"
            time.sleep(0.05)
        closed_after = time.monotonic() - pressed
        assert closed_after < 1.0, f"the upstream request closed {closed_after:.2f} s after Stop"

        expect(page_a.locator(f"{ANSWER}[aria-busy='true']")).to_have_count(0)
        expect(page_a.locator(ANSWER).last).to_contain_text("Stopped")
        expect(page_b.locator(ANSWER).last).to_contain_text("Stopped")
        engine = make_engine(cluster.database_url)
        try:
            with engine.connect() as db:
                status = db.execute(
                    text("SELECT status FROM messages WHERE conversation_id = :cid AND role = 'assistant'"),
                    {"cid": int(conversation)},
                ).scalar_one()
        finally:
            engine.dispose()
        assert status == "stopped"
    finally:
        on_a.close()
        on_b.close()
