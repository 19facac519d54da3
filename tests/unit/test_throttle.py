"""The slow-down counters (services/throttle.py) in process memory; tests/integration/
test_throttle_redis.py runs the same rules against a real Redis shared by two processes."""

from __future__ import annotations

import asyncio

import pytest

from fabrix_chat.services.throttle import MemoryStore, Policy, Throttle


def throttle(**policy) -> Throttle:
    return Throttle("t", Policy(**policy))


async def test_first_attempts_are_free_then_waits_grow_and_are_capped():
    t = throttle(free_attempts=3, base_delay=1.0, max_delay=8.0)
    for i in range(3):
        assert await t.attempt("kim", now=100.0 + i) == 0
    assert await t.attempt("kim", now=102.5) == pytest.approx(0.5)  # 1 s after the 3rd, not counted
    waits = []
    now = 103.0
    for _ in range(6):
        assert await t.attempt("kim", now=now) == 0
        waits.append(await t.wait_seconds("kim", now=now))
        now += waits[-1]
    assert waits == [2.0, 4.0, 8.0, 8.0, 8.0, 8.0]


async def test_waiting_out_a_delay_never_makes_it_longer():
    t = throttle(free_attempts=2, base_delay=2.0)
    await t.attempt("kim", now=0.0)
    await t.attempt("kim", now=0.0)
    for now in (0.5, 1.0, 1.5):
        assert await t.attempt("kim", now=now) > 0  # refused attempts are not counted
    assert await t.attempt("kim", now=2.0) == 0


async def test_clear_and_old_attempts_are_forgotten():
    t = throttle(free_attempts=2, base_delay=5.0, forget_after=60.0)
    for _ in range(2):
        await t.attempt("kim", now=0.0)
    assert await t.wait_seconds("kim", now=1.0) > 0
    await t.clear("kim")
    assert await t.wait_seconds("kim", now=1.0) == 0
    for _ in range(2):
        await t.attempt("lee", now=0.0)
    assert await t.wait_seconds("lee", now=61.0) == 0
    assert await t.attempts("lee", now=61.0) == 0


async def test_refund_takes_back_one_attempt():
    t = throttle(free_attempts=1, base_delay=3.0)
    await t.attempt("kim", now=0.0)
    assert await t.wait_seconds("kim", now=0.0) == 3.0
    await t.refund("kim")
    assert await t.attempt("kim", now=0.0) == 0


async def test_sixty_at_once_pass_only_the_free_attempts():
    t = throttle(free_attempts=3)
    results = await asyncio.gather(*(t.attempt("kim") for _ in range(60)))
    assert sum(1 for r in results if r == 0) == 3


async def test_a_spray_of_made_up_names_cannot_push_out_a_slowed_victim():
    store = MemoryStore(max_keys=100)
    t = Throttle("t", Policy(free_attempts=3, base_delay=10.0), store)
    for _ in range(3):
        await t.attempt("victim", now=0.0)
    for i in range(1_000):
        await t.attempt(f"made-up-{i}", now=1.0)
    assert len(store._records) <= 100
    assert await t.wait_seconds("victim", now=1.0) == 9.0, "the victim's delay survives"
