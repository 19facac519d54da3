"""After a Redis restart: what Reflex's state store needs set again, and its stale locks dropped.

Reflex keeps every tab's state in Redis, each tab behind a lock (`<token>_lock`, expiring after
`redis_lock_expiration`, 30 s here), and wakes a tab waiting for a lock through Redis's keyspace
notifications, which it turns on once, when a worker first subscribes. A restarted redis-server
(bench/bench_dependency_failures.py, redis_restart) then:

- has forgotten `notify-keyspace-events` (unless redis.conf sets it): every busy lock was waited
  for its whole expiry, and every tab looked frozen for half a minute;
- has loaded, with its data, the locks of the events that were running when it went down, whose
  workers have long given them up: the tabs behind them waited until they expired.

Each worker checks every CHECK_SECONDS: it puts the flags back, and when Redis's run id has changed
(a restart) it drops the locks older than any a worker can have taken since then.
"""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

log = logging.getLogger(__name__)

# reflex.istate.manager.redis.NOTIFY_KEYSPACE_EVENTS (a test checks they agree).
NEEDED_FLAGS = "K$sgxe"
CHECK_SECONDS = 1.0  # an event that starts waiting for a lock before the flags are back waits 30 s
# What Redis's "A" stands for in notify-keyspace-events.
_ALL_EVENTS = "g$lshzxetd"


def missing_flags(current: str, needed: str = NEEDED_FLAGS) -> str:
    """The flags of `needed` that the setting `current` lacks ("" when none)."""
    expanded = current.replace("A", _ALL_EVENTS)
    return "".join(flag for flag in needed if flag not in expanded)


async def restore_notifications(client: Redis) -> bool:
    """Set the missing flags, keeping those already set; returns whether any were missing."""
    current = (await client.config_get("notify-keyspace-events")).get("notify-keyspace-events", "")
    if isinstance(current, bytes):
        current = current.decode()
    missing = missing_flags(current)
    if missing:
        await client.config_set("notify-keyspace-events", current + missing)
    return bool(missing)


# Deletes each lock whose time left is below ARGV[1] ms, in one step (no lock changes in between).
_DROP_OLD_LOCKS = """
local dropped = 0
for _, key in ipairs(KEYS) do
  local left = redis.call('PTTL', key)
  if left >= 0 and left < tonumber(ARGV[1]) then
    redis.call('DEL', key)
    dropped = dropped + 1
  end
end
return dropped
"""


async def drop_old_locks(client: Redis, left_below_ms: int) -> int:
    """Delete the tabs' state locks with less than `left_below_ms` before they expire (taken long
    enough ago that no running worker holds them); returns how many."""
    keys = [key async for key in client.scan_iter(match="*_lock", count=1000)]
    dropped = 0
    for start in range(0, len(keys), 500):
        batch = keys[start : start + 500]
        dropped += int(await client.eval(_DROP_OLD_LOCKS, len(batch), *batch, left_below_ms))
    return dropped


async def recover_after_restarts(url: str, lock_expiration_ms: int, interval: float = CHECK_SECONDS) -> None:
    """Run until cancelled: restore the notifications whenever Redis has lost them, and drop the
    stale locks a restart brought back."""
    client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    unreachable = False
    run_id = ""
    # A lock taken since the restart (seen within about one interval) has nearly all its time left.
    stale_below_ms = max(0, int(lock_expiration_ms - 3 * interval * 1000))
    try:
        while True:
            try:
                if await restore_notifications(client):
                    log.info("set Redis's keyspace notifications (Reflex's state locks wait for them)")
                current = str((await client.info("server")).get("run_id", ""))
                if run_id and current != run_id:
                    dropped = await drop_old_locks(client, stale_below_ms)
                    log.warning("Redis was restarted: dropped %d state locks of events that ended with it", dropped)
                run_id = current
                if unreachable:
                    log.info("Redis answers again")
                unreachable = False
            except ResponseError as exc:
                # CONFIG is turned off (a managed Redis): redis.conf must set the flags itself.
                log.warning(
                    "cannot check Redis's notify-keyspace-events (%s); set it to %s in redis.conf", exc, NEEDED_FLAGS
                )
                return
            except (RedisError, OSError) as exc:
                if not unreachable:
                    log.warning(
                        "Redis is not answering (%s); checking again every %.0f s", type(exc).__name__, interval
                    )
                unreachable = True
            await asyncio.sleep(interval)
    finally:
        await client.aclose()
