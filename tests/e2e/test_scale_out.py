"""Outgrowing one machine: the app on PostgreSQL and Redis, with several back-end processes.

Two app instances share one database (PostgreSQL when the Debian package is installed, else one
SQLite file) and one real redis-server: instance A runs two back-end workers (granian), instance B
one. With `rate_limit.redis_url` set, Reflex keeps its state in Redis and the FabriX rate limit is
one budget for every process: `rpm = 3` admits three questions across A and B, and the fourth
(on B, which alone has asked only twice) is refused with "Server is busy, try again in N s".
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

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
