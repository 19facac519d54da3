"""Sign-in slow-downs kept in a real Redis: two processes (two workers) share one count, and a
restart does not reset it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from fabrix_chat.services.throttle import Policy, RedisStore, Throttle
from tests.redis_server import redis_server


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server("shared sign-in slow-down test skipped") as port:
        yield f"redis://127.0.0.1:{port}/0"


def attempts_in_another_process(url: str, key: str, n: int) -> list[float]:
    code = (
        "import asyncio, json\n"
        "from fabrix_chat.services.throttle import Policy, RedisStore, Throttle\n"
        f"t = Throttle('login-user', Policy(free_attempts=5), RedisStore({url!r}))\n"
        f"async def main(): return await asyncio.gather(*(t.attempt({key!r}) for _ in range({n})))\n"
        "print(json.dumps(asyncio.run(main())))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


async def test_two_workers_share_one_count_and_a_restart_keeps_it(redis_url):
    here = Throttle("login-user", Policy(free_attempts=5), RedisStore(redis_url))
    mine, theirs = await asyncio.gather(
        asyncio.gather(*(here.attempt("kim") for _ in range(30))),
        asyncio.to_thread(attempts_in_another_process, redis_url, "kim", 30),
    )
    allowed = sum(1 for w in [*mine, *theirs] if w == 0)
    assert allowed == 5, "sixty attempts from two processes pass only the five free ones"
    restarted = Throttle("login-user", Policy(free_attempts=5), RedisStore(redis_url))
    assert await restarted.wait_seconds("kim") > 0
    await restarted.clear("kim")
    assert await restarted.attempt("kim") == 0


async def test_a_redis_that_stops_answering_falls_back_to_counting_here(caplog):
    dead = Throttle("login-user", Policy(free_attempts=2), RedisStore("redis://127.0.0.1:1/0"))
    assert [await dead.attempt("kim") for _ in range(3)][:2] == [0, 0]
    assert await dead.attempt("kim") > 0, "still slowed while Redis is away"
    assert "Redis failed" in caplog.text
