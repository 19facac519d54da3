"""The dependency-failure benchmark (bench/bench_dependency_failures.py) in short, so that it cannot
rot: two users through the whole stack (two workers, Redis, PostgreSQL, FabriX behind its proxy)
and one scenario, Redis restarted. Nothing may be lost and every user must recover; how fast is the
benchmark's business (README, "Benchmarks"), not asserted here. The browser tests check what each
scenario looks like (tests/e2e/test_dependency_failures.py)."""

from __future__ import annotations

import asyncio
import shutil
import time

import pytest
from sqlalchemy import text

import bench.bench_dependency_failures as bench
from fabrix_chat.db import make_engine
from fabrix_chat.fabrix_chat import INTERRUPTED_SWEEP_SECONDS
from fabrix_chat.repo.conversations import HEARTBEAT_STALE_SECONDS
from tests.integration import pg


def streaming_answers(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as db:
            return db.execute(text("SELECT COUNT(*) FROM messages WHERE status = 'streaming'")).scalar_one()
    finally:
        engine.dispose()


def test_the_dependency_failure_benchmark_runs_one_scenario(tmp_path, monkeypatch) -> None:
    if pg.find_bindir() is None:
        pytest.skip(pg.SKIP_REASON)
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed (Debian package redis-server)")
    monkeypatch.setattr(bench, "WORK", tmp_path)  # its data folders, not /tmp/fabrix-bench
    with bench.running_stack(2, take_lock=False) as stack:
        pids_before = bench.worker_pids(stack)
        results = asyncio.run(bench.measure(stack, 2, ["redis_restart"]))
        assert bench.worker_pids(stack) == pids_before  # the app was not restarted
        # A question asked in the instant Redis went down can be saved while its answer never
        # starts (the event that runs it is lost with Redis; the page gave the text back). The
        # app's own sweep of interrupted answers ends it, as "stopped", within about a minute.
        deadline = time.monotonic() + HEARTBEAT_STALE_SECONDS + INTERRUPTED_SWEEP_SECONDS + 15
        while (left := streaming_answers(stack.pg_url)) and time.monotonic() < deadline:
            time.sleep(1)
        assert left == 0, "an answer was left streaming"

    result = results["redis_restart"]
    assert result["lost"] == [] and result["different"] == [], result
    assert result["answered_without_saved_question"] == []
    assert result["users_not_recovered"] == [], result
    assert result["recovery_seconds"]["n"] == 2
    assert result["seen"]["toasts"] == {}  # never Reflex's "Contact the website administrator"
