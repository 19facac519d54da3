"""Slow-downs for guessing: failed log-ins per username and per client, wrong invite keys per
client and for the whole site.

An attempt is counted *before* it is checked (`attempt`), atomically, so sixty attempts sent at
once cannot all pass the check while the first is still being verified; one that turns out
right is refunded or cleared afterwards. The first few attempts are free; after that each must
wait an exponentially growing delay (capped) since the previous one, so nobody is locked out
and a user who merely reloads is never slowed.

The counters live in this process (a bounded table that forgets the oldest names first), or in
Redis when `[rate_limit] redis_url` is set, so every worker and a restart share them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

MAX_MEMORY_KEYS = 10_000


@dataclass(frozen=True)
class Policy:
    free_attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 30.0
    forget_after: float = 900.0

    def wait(self, count: int, last: float, now: float) -> float:
        """Seconds before another attempt, after `count` counted attempts, the last at `last`."""
        if now - last > self.forget_after or count < self.free_attempts:
            return 0.0
        delay = min(self.max_delay, self.base_delay * 2 ** (count - self.free_attempts))
        return max(0.0, last + delay - now)


class Store(Protocol):
    async def attempt(self, key: str, policy: Policy, now: float) -> float: ...
    async def wait(self, key: str, policy: Policy, now: float) -> float: ...
    async def count(self, key: str, policy: Policy, now: float) -> int: ...
    async def refund(self, key: str) -> None: ...
    async def clear(self, key: str) -> None: ...


class MemoryStore:
    """One process's counters. Each call finishes before it yields, so check-and-count is atomic
    on the event loop; the lock covers callers on other threads. Past MAX_MEMORY_KEYS names the
    least recently touched are forgotten, never the whole table (which reset a victim's delay)."""

    def __init__(self, max_keys: int = MAX_MEMORY_KEYS):
        self.max_keys = max_keys
        self._records: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._lock = threading.Lock()

    def _current(self, key: str, policy: Policy, now: float) -> tuple[int, float]:
        count, last = self._records.get(key, (0, 0.0))
        return (0, 0.0) if now - last > policy.forget_after else (count, last)

    async def attempt(self, key: str, policy: Policy, now: float) -> float:
        with self._lock:
            count, last = self._current(key, policy, now)
            wait = policy.wait(count, last, now)
            if wait > 0:
                return wait
            self._records[key] = (count + 1, now)
            self._records.move_to_end(key)
            if len(self._records) > self.max_keys:
                self._evict(policy, now)
            return 0.0

    def _evict(self, policy: Policy, now: float) -> None:
        """Forget the oldest harmless record (still free, or expired) so that a spray of made-up
        names cannot push out a victim whose attempts are being slowed; else the oldest one."""
        for scanned, (key, (count, last)) in enumerate(self._records.items()):
            if count < policy.free_attempts or now - last > policy.forget_after:
                del self._records[key]
                return
            if scanned >= 1000:
                break
        self._records.popitem(last=False)

    async def wait(self, key: str, policy: Policy, now: float) -> float:
        with self._lock:
            return policy.wait(*self._current(key, policy, now), now)

    async def count(self, key: str, policy: Policy, now: float) -> int:
        with self._lock:
            return self._current(key, policy, now)[0]

    async def refund(self, key: str) -> None:
        with self._lock:
            if key in self._records:
                count, last = self._records[key]
                self._records[key] = (max(0, count - 1), last)

    async def clear(self, key: str) -> None:
        with self._lock:
            self._records.pop(key, None)


# KEYS[1] = the counter; ARGV = now, free_attempts, base_delay, max_delay, forget_after.
# The same rule as Policy.wait, evaluated inside Redis so workers cannot interleave.
_ATTEMPT_LUA = """
local count = tonumber(redis.call('HGET', KEYS[1], 'c') or '0')
local last = tonumber(redis.call('HGET', KEYS[1], 'l') or '0')
local now, free, base, maxd, forget = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
if now - last > forget then count = 0 end
if count >= free then
  local wait = last + math.min(maxd, base * 2 ^ (count - free)) - now
  if wait > 0 then return tostring(wait) end
end
redis.call('HSET', KEYS[1], 'c', count + 1, 'l', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(forget) + 1)
return '0'
"""
_REFUND_LUA = """
local count = tonumber(redis.call('HGET', KEYS[1], 'c') or '0')
if count > 0 then redis.call('HSET', KEYS[1], 'c', count - 1) end
return count
"""


class RedisStore:
    """Counters shared by every worker and kept across restarts, in Redis."""

    def __init__(self, url: str, prefix: str = "fabrix:throttle"):
        from redis.asyncio import Redis

        self._redis = Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        self._prefix = prefix
        self._attempt = self._redis.register_script(_ATTEMPT_LUA)
        self._refund = self._redis.register_script(_REFUND_LUA)

    def _key(self, key: str) -> str:
        return f"{self._prefix}:{key}"

    async def _read(self, key: str, policy: Policy, now: float) -> tuple[int, float]:
        count, last = await self._redis.hmget(self._key(key), ["c", "l"])
        count, last = int(count or 0), float(last or 0.0)
        return (0, 0.0) if now - last > policy.forget_after else (count, last)

    async def attempt(self, key: str, policy: Policy, now: float) -> float:
        args = [now, policy.free_attempts, policy.base_delay, policy.max_delay, policy.forget_after]
        return float(await self._attempt(keys=[self._key(key)], args=args))

    async def wait(self, key: str, policy: Policy, now: float) -> float:
        return policy.wait(*await self._read(key, policy, now), now)

    async def count(self, key: str, policy: Policy, now: float) -> int:
        return (await self._read(key, policy, now))[0]

    async def refund(self, key: str) -> None:
        await self._refund(keys=[self._key(key)])

    async def clear(self, key: str) -> None:
        await self._redis.delete(self._key(key))


class Throttle:
    """One kind of counted attempt (e.g. log-ins per username), in a shared store.

    If Redis stops answering, counting goes on in this process (with a warning in the log) rather
    than refusing every log-in, and returns to Redis by itself at the next call that works."""

    def __init__(self, name: str, policy: Policy, store: Store | None = None):
        self.name = name
        self.policy = policy
        self.store: Store = store or MemoryStore()
        self._fallback = MemoryStore()

    async def _call(self, method: str, *args):
        try:
            return await getattr(self.store, method)(*args)
        except Exception as exc:
            if isinstance(self.store, MemoryStore):
                raise
            log.warning("slow-down counters: Redis failed (%s); counting in this process", type(exc).__name__)
            return await getattr(self._fallback, method)(*args)

    def _key(self, key: str) -> str:
        return f"{self.name}:{key}"

    async def attempt(self, key: str, now: float | None = None) -> float:
        """Count one attempt and return 0, or return the seconds to wait (and count nothing)."""
        return await self._call("attempt", self._key(key), self.policy, time.time() if now is None else now)

    async def wait_seconds(self, key: str, now: float | None = None) -> float:
        return await self._call("wait", self._key(key), self.policy, time.time() if now is None else now)

    async def attempts(self, key: str, now: float | None = None) -> int:
        """Attempts counted and not yet forgotten."""
        return await self._call("count", self._key(key), self.policy, time.time() if now is None else now)

    async def refund(self, key: str) -> None:
        """Take back one counted attempt (it turned out right)."""
        await self._call("refund", self._key(key))

    async def clear(self, key: str) -> None:
        await self._call("clear", self._key(key))
