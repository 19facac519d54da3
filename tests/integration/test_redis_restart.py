"""A real redis-server restarted under the app's feet (tests/redis_server.RestartableRedis).

After a restart Redis has forgotten `notify-keyspace-events`, which Reflex's state locks rely on
to wake a waiting tab, and has brought back the locks of the events it cut short: tabs waited
for those locks' whole expiry (30 s) and looked frozen (bench/bench_dependency_failures.py,
redis_restart). services/redis_watch.py sets the flags again and drops those locks.
"""

from __future__ import annotations

import asyncio
import shutil
import time

import pytest

from fabrix_chat.services import redis_watch
from tests.redis_server import RestartableRedis

pytestmark = pytest.mark.asyncio

LOCK_MS = 30_000  # rxconfig.STATE_LOCK_EXPIRATION_MS


@pytest.fixture
def server(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed (Debian package redis-server)")
    redis = RestartableRedis(tmp_path / "redis")
    redis.start()
    yield redis
    redis.stop(keep_data=False)


async def flags(server: RestartableRedis) -> str:
    client = server.client()
    try:
        return client.config_get("notify-keyspace-events")["notify-keyspace-events"]
    finally:
        client.close()


async def wait_for_flags(server: RestartableRedis, seconds: float = 5.0) -> str:
    deadline = time.monotonic() + seconds
    while not redis_watch.missing_flags(current := await flags(server)) == "":
        assert time.monotonic() < deadline, f"notify-keyspace-events is {current!r}"
        await asyncio.sleep(0.05)
    return current


async def test_a_restarted_redis_gets_its_keyspace_notifications_back(server) -> None:
    client = server.client()
    client.set("tab-state", b"kept")
    client.close()
    watch = asyncio.create_task(redis_watch.recover_after_restarts(server.url, LOCK_MS, interval=0.1))
    try:
        await wait_for_flags(server)

        await asyncio.to_thread(server.restart, down_seconds=0.5)  # SHUTDOWN SAVE, then started again
        await wait_for_flags(server)

        client = server.client()
        assert client.get("tab-state") == b"kept", "a restart keeps the data, as a service restart does"
        client.close()
        assert not watch.done(), "the watch survives Redis being down"
    finally:
        watch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await watch


async def test_flags_set_by_the_operator_are_kept(server) -> None:
    from redis.asyncio import Redis

    client = server.client()
    client.config_set("notify-keyspace-events", "Elh")
    client.close()
    async_client = Redis.from_url(server.url)
    try:
        assert await redis_watch.restore_notifications(async_client)
        assert not await redis_watch.restore_notifications(async_client)  # nothing missing any more
    finally:
        await async_client.aclose()
    assert set(await flags(server)) >= set("Elh" + redis_watch.NEEDED_FLAGS)


async def test_a_restart_drops_the_locks_it_brought_back_but_not_new_ones(server) -> None:
    client = server.client()
    client.set("tab-a_lock", b"event:1", px=LOCK_MS)  # taken just before Redis went down
    client.close()
    # Checked every 0.5 s: a lock with less than 28.5 s left is older than any taken since a restart.
    watch = asyncio.create_task(redis_watch.recover_after_restarts(server.url, LOCK_MS, interval=0.5))
    try:
        await wait_for_flags(server)
        await asyncio.to_thread(server.stop)
        await asyncio.sleep(2.5)  # Redis down for a while: the lock it saved now has about 27 s left
        await asyncio.to_thread(server.start)
        client = server.client()
        client.set("tab-b_lock", b"event:2", px=LOCK_MS)  # taken by a worker once Redis was back
        client.set("tab-c_lock_waiters", b"x", px=1000)  # not a lock
        deadline = time.monotonic() + 5
        while client.exists("tab-a_lock"):
            assert time.monotonic() < deadline, "the lock from before the restart is still there"
            await asyncio.sleep(0.05)
        assert client.get("tab-b_lock") == b"event:2"
        assert client.exists("tab-c_lock_waiters")
        client.close()
    finally:
        watch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await watch
