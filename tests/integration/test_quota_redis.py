"""Daily quotas kept in a real Redis: two workers (one of them another process) share one count
that holds when sixty questions arrive at once, and a restart keeps it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from fabrix_chat.models import User
from fabrix_chat.services.quota import OverQuota, Quotas, RedisStore, Reservation
from tests.redis_server import redis_server

KST = timezone(timedelta(hours=9))
NOON = datetime(2025, 3, 1, 12, 0, tzinfo=KST)

# Another worker: a process of its own sending `n` questions at once for user 1 (limit 5).
WORKER = """
import asyncio, json, sys
from datetime import datetime, timedelta, timezone
from fabrix_chat.models import User
from fabrix_chat.services.quota import Quotas, RedisStore, Reservation

url, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
now = datetime(2025, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=9)))

async def no_usage(*_args):
    return 0, 0

async def main():
    quotas = Quotas(RedisStore(url, prefix), clock=lambda: now, usage=no_usage)
    kim = User(id=1, username="kim", email="kim@example.com", password_hash="x", daily_question_limit=5)
    results = await asyncio.gather(*(quotas.reserve(kim, "hello") for _ in range(n)), return_exceptions=True)
    print(json.dumps(sum(isinstance(r, Reservation) for r in results)))

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server("shared daily quota test skipped") as port:
        yield f"redis://127.0.0.1:{port}/0"


def kim(questions: int | None = 5, tokens: int | None = None) -> User:
    return User(
        id=1,
        username="kim",
        email="kim@example.com",
        password_hash="x",
        daily_question_limit=questions,
        daily_token_limit=tokens,
    )


def worker_quotas(url: str, prefix: str, clock=lambda: NOON, used: tuple[int, int] = (0, 0), seeds=None) -> Quotas:
    async def usage(*args):
        if seeds is not None:
            seeds.append(args)
        return used

    return Quotas(RedisStore(url, prefix), clock=clock, usage=usage)


def reserve_in_another_process(url: str, prefix: str, n: int) -> int:
    out = subprocess.run(
        [sys.executable, "-c", WORKER, url, prefix, str(n)], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(out.stdout)


async def passed(quotas: Quotas, who: User, n: int) -> int:
    results = await asyncio.gather(*(quotas.reserve(who, "hello") for _ in range(n)), return_exceptions=True)
    assert all(isinstance(r, (OverQuota, Reservation)) for r in results), results
    return sum(isinstance(r, Reservation) for r in results)


async def test_sixty_questions_from_two_workers_pass_a_limit_of_five_five_times(redis_url):
    prefix = f"test:{uuid.uuid4().hex}"
    here, other = worker_quotas(redis_url, prefix), worker_quotas(redis_url, prefix)
    mine, ours, theirs = await asyncio.gather(
        passed(here, kim(), 20),
        passed(other, kim(), 20),
        asyncio.to_thread(reserve_in_another_process, redis_url, prefix, 20),
    )
    assert mine + ours + theirs == 5, "sixty questions at once from three workers pass only five"
    restarted = worker_quotas(redis_url, prefix, used=(0, 0))
    standing = await restarted.standing(kim())
    assert (standing.questions, standing.questions_left) == (5, 0), "a restart keeps the count"
    with pytest.raises(OverQuota):
        await restarted.reserve(kim(), "one more")


async def test_the_days_usage_records_seed_a_missing_counter_once(redis_url):
    prefix = f"test:{uuid.uuid4().hex}"
    seeds: list = []
    quotas = worker_quotas(redis_url, prefix, used=(3, 120), seeds=seeds)
    assert await passed(quotas, kim(), 60) == 2, "three were asked before Redis knew of them"
    assert len(seeds) == 1, "the usage records are read once for all sixty"
    assert (await quotas.standing(kim())).questions == 5 and len(seeds) == 1, "then Redis has the count"
    assert (await quotas.standing(kim())).tokens == 120 + 2 * 2  # "hello" is 2 estimated tokens


async def test_tokens_release_and_a_new_day_in_redis(redis_url):
    prefix = f"test:{uuid.uuid4().hex}"
    clock = {"now": NOON}
    quotas = worker_quotas(redis_url, prefix, clock=lambda: clock["now"])
    who = kim(questions=None, tokens=100)
    held = await quotas.reserve(who, "x" * 160)  # 40 tokens
    await quotas.charge(1, 50)
    assert (await quotas.standing(who)).tokens == 90
    with pytest.raises(OverQuota):
        await quotas.reserve(who, "x" * 80)
    back = await quotas.release(held)
    assert (back.questions, back.tokens) == (0, 50)
    await quotas.forget(1)
    assert (await quotas.standing(who)).tokens == 0, "forgotten: read again from the (empty) usage records"
    await quotas.reserve(kim(questions=1), "hi")
    with pytest.raises(OverQuota):
        await quotas.reserve(kim(questions=1), "hi")
    clock["now"] = NOON + timedelta(hours=12)  # 00:00 the next day
    assert (await quotas.reserve(kim(questions=1), "hi")).counted


async def test_a_redis_that_stops_answering_falls_back_to_counting_here(caplog):
    async def no_usage(*_args):
        return 0, 0

    dead = Quotas(RedisStore("redis://127.0.0.1:1/0"), clock=lambda: NOON, usage=no_usage)
    assert await passed(dead, kim(questions=2), 5) == 2, "still limited while Redis is away"
    assert "Redis failed" in caplog.text
