"""Rate limiter across processes: a real redis-server, two limiter processes, one global budget."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fabrix_chat.fabrix.limiter import RateLimited, RateLimiter
from tests.redis_server import redis_server

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BIG = 1_000_000

# Runs in a separate Python process: acquire N requests at once (no waiting) and print how many got in.
WORKER = """
import asyncio, json, sys, time
from fabrix_chat.fabrix.limiter import RateLimited, RateLimiter

url, namespace, rpm, n, start_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])

async def main():
    limiter = RateLimiter(rpm=rpm, tpm=1_000_000, redis_url=url, namespace=namespace, max_user_share=1.0)
    await asyncio.sleep(max(start_at - time.time(), 0))  # both processes fire together
    results = await asyncio.gather(
        *(limiter.acquire(user="worker", tokens=3, max_wait=0) for _ in range(n)), return_exceptions=True
    )
    await limiter.close()
    bad = [repr(r) for r in results if r is not None and not isinstance(r, RateLimited)]
    print(json.dumps({"admitted": sum(r is None for r in results), "errors": bad}))

asyncio.run(main())
"""

PENALIZE = """
import asyncio, sys
from fabrix_chat.fabrix.limiter import RateLimiter

async def main():
    limiter = RateLimiter(rpm=100, tpm=1_000_000, redis_url=sys.argv[1], namespace=sys.argv[2])
    await limiter.penalize(float(sys.argv[3]))
    await limiter.close()

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A throwaway redis-server on a free loopback port, stopped after the module."""
    with redis_server("cross-process limiter test skipped") as port:
        yield f"redis://127.0.0.1:{port}/0"


def _python(code: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return out


def test_global_rpm_holds_across_two_processes(redis_url: str) -> None:
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    start_at = str(time.time() + 1.5)  # after both interpreters have imported the limiter
    workers = [_python(WORKER, redis_url, namespace, "20", "30", start_at) for _ in range(2)]
    reports = [json.loads(_finish(w)) for w in workers]
    assert [r["errors"] for r in reports] == [[], []]
    assert sum(r["admitted"] for r in reports) == 20, reports

    async def check() -> None:
        limiter = RateLimiter(rpm=20, tpm=BIG, redis_url=redis_url, namespace=namespace)
        try:
            snap = await limiter.snapshot()
            assert (snap.rpm_used, snap.rpm_remaining, snap.tpm_used, snap.backend) == (20, 0, 60, "redis")
            with pytest.raises(RateLimited):
                await limiter.acquire(user="third-process", tokens=1, max_wait=0)
        finally:
            await limiter.close()

    asyncio.run(check())


def test_penalty_in_one_process_is_honoured_by_another(redis_url: str) -> None:
    namespace = f"test-{uuid.uuid4().hex[:8]}"
    _finish(_python(PENALIZE, redis_url, namespace, "2.5"))

    async def check() -> None:
        limiter = RateLimiter(rpm=100, tpm=BIG, redis_url=redis_url, namespace=namespace)
        try:
            with pytest.raises(RateLimited) as info:
                await limiter.acquire(user="a", tokens=1, max_wait=0)
            assert 0.5 < info.value.retry_after <= 2.5
            waits: list[float] = []
            await limiter.acquire(user="a", tokens=1, max_wait=5, on_wait=waits.append)
            assert len(waits) == 1
        finally:
            await limiter.close()

    asyncio.run(check())


def test_fair_share_and_corrections_are_shared_between_workers(redis_url: str) -> None:
    """Two limiter instances on one Redis behave like two workers: one budget, one fairness state."""
    namespace = f"test-{uuid.uuid4().hex[:8]}"

    async def check() -> None:
        worker_a = RateLimiter(rpm=10, tpm=100, redis_url=redis_url, namespace=namespace, window_seconds=2)
        worker_b = RateLimiter(rpm=10, tpm=100, redis_url=redis_url, namespace=namespace, window_seconds=2)
        try:
            await worker_b.acquire(user="b", tokens=1, max_wait=0)
            await worker_a.acquire(user="a", tokens=49, max_wait=0)
            # "b" used the window (seen through Redis), so "a" is held to half of the 100 tokens.
            with pytest.raises(RateLimited):
                await worker_a.acquire(user="a", tokens=5, max_wait=0)
            # The answer correction overflows the token window beyond its limit and is kept.
            await worker_b.record_tokens(user="b", tokens=80)
            snap = await worker_a.snapshot()
            assert snap.tpm_used == 130 and snap.tpm_remaining == 0
            assert snap.per_user == {"a": {"requests": 1, "tokens": 49}, "b": {"requests": 1, "tokens": 81}}
            with pytest.raises(RateLimited) as info:
                await worker_b.acquire(user="c", tokens=1, max_wait=0)
            assert 1.0 < info.value.retry_after <= 2.0
            await worker_a.reset()
            assert (await worker_b.snapshot()).tpm_used == 0
            await worker_b.acquire(user="c", tokens=1, max_wait=0)
        finally:
            await worker_a.close()
            await worker_b.close()

    asyncio.run(check())
