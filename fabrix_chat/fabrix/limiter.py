"""Fair, concurrency-safe rate limiter for FabriX calls: sliding windows on requests and tokens.

How it works
  * Two moving windows of ``window_seconds`` (60 in production): one counts requests (limit ``rpm``),
    one counts estimated tokens (limit ``tpm``; a request is a weighted hit of ``tokens`` entries).
    The windows are kept by the `limits` library: ``MemoryStorage`` in one process, ``RedisStorage``
    (atomic Lua scripts) when ``redis_url`` is set so all workers share one budget.
  * ``acquire()`` reserves 1 request + the estimated tokens of question and history. Over budget, it
    waits exactly until enough old entries leave the window, calling ``on_wait(seconds)`` first so the
    UI can show "waiting for capacity". It gives up with ``RateLimited`` (the real wait in seconds)
    after ``attempts`` tries, or at once when the wait is longer than what is left of ``max_wait``:
    sleeping first and failing anyway would only make the user wait twice.
  * ``record_tokens()`` adds the answer's tokens after the call, so long answers count. That hit is
    taken even when it pushes the token window above ``tpm`` (the overflow just makes new requests
    wait longer); see "Overflow" below.
  * ``penalize(retry_after)`` is for an upstream 429: nobody is admitted until then, in every worker.
  * ``snapshot()`` reports usage for the admin page.

Fairness rule
  A user may hold at most ``max_user_share`` (default 0.5) of the RPM and of the TPM in the window
  while any *other* user is waiting (or was refused within the last few seconds) or has used the
  limiter within the window. A lone user gets the whole budget. A capped user waits until their own
  usage drops under the cap or the others go quiet, whichever is first. There is no queue: the cap
  only stops one heavy user from taking the capacity that frees up while someone else wants it.

Edge rules
  * A request estimated above ``tpm`` is charged ``tpm``, so it runs once the window is empty instead
    of waiting forever; likewise one above a capped user's token share runs once that user's own
    usage has left the window.
  * We call the `limits` storage's moving-window interface (``acquire_entry`` / ``get_moving_window``,
    what ``MovingWindowRateLimiter`` calls) rather than the strategy, because the strategy bakes the
    limit into the key and we need one key checked against different limits: ``tpm``/``rpm`` when
    admitting, ``_RECORD_LIMIT_FACTOR`` times that for corrections, so a correction may overflow the
    window instead of being refused. A correction is clamped to ``tpm`` (one answer counts at most
    one window's budget).
  * Exact waits read the timestamp of one stored entry (``_*State.timestamp_at``), which depends on
    the storage layout of `limits` 5.x; if that ever changes we fall back to a whole window.
  * The window uses wall-clock time (``time.time()``, as `limits` does), so workers on different
    machines need synchronised clocks; tests shorten ``window_seconds`` instead of faking a clock.
  * Check-then-hit over several windows runs under one lock (an ``asyncio.Lock``, plus a Redis lock
    when Redis is used) so admission is exact; the admission hits themselves are atomic in `limits`,
    so even a bypassed lock could not admit more than ``rpm`` requests.
  * Redis errors are not swallowed: they reach the caller, like any other infrastructure failure.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal

from limits.aio.storage import MemoryStorage, RedisStorage
from redis.asyncio import ConnectionPool, Redis

from fabrix_chat.config import RateLimitSettings

log = logging.getLogger(__name__)

# Storage keys of the windows. User keys sit under "u:" so no user name can collide with a global key.
_REQUESTS = "w:requests"
_TOKENS = "w:tokens"

# Corrections may overflow the token window up to this many times its limit; beyond that they are dropped.
_RECORD_LIMIT_FACTOR = 10
# How long a refused user still counts as "waiting" after the wait they were told, for fairness.
_DEMAND_GRACE_SECONDS = 5.0
# Sleep a little past the computed moment: an entry leaves the window only strictly after it.
_WAKE_SLACK_SECONDS = 0.01
# Wait reported if an admission hit is refused despite the lock (another process bypassed it).
_RETRY_SOON_SECONDS = 0.05
# Idle lifetime of the Redis bookkeeping keys; their members carry their own deadlines.
_REDIS_KEY_TTL_SECONDS = 3600

OnWait = Callable[[float], Awaitable[None] | None]


class RateLimited(Exception):
    """The request could not get capacity in time; ``retry_after`` is the real wait in seconds."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(float(retry_after), 0.001)
        super().__init__(self.message)

    def __reduce__(self) -> tuple[type[RateLimited], tuple[float]]:
        return (RateLimited, (self.retry_after,))

    @property
    def seconds(self) -> int:
        """The wait rounded up to whole seconds, as shown to the user."""
        return math.ceil(self.retry_after)

    @property
    def message(self) -> str:
        """For the log; the user is told `text_key()` with `text_values()` (i18n.error_text)."""
        return f"Server is busy, try again in {self.seconds} s"

    def text_key(self) -> str:
        return "error_rate_limited"

    def text_values(self, lang: str) -> dict[str, object]:
        return {"seconds": self.seconds}


@dataclass
class UsageSnapshot:
    """Usage of the current window, for the admin page."""

    rpm_used: int
    rpm_limit: int
    tpm_used: int
    tpm_limit: int
    rpm_remaining: int
    tpm_remaining: int
    waiting: int  # requests sleeping in acquire() in this process
    current_wait_seconds: float  # how long a new small request would wait now
    per_user: dict[str, dict[str, int]] = field(default_factory=dict)  # {"requests": n, "tokens": n}
    backend: Literal["memory", "redis"] = "memory"


def _user_key(kind: str, user: str) -> str:
    return f"u:{kind}:{user}"


class _MemoryState:
    """Penalty, fairness registries and locking for a single process."""

    backend: Literal["memory", "redis"] = "memory"

    def __init__(self, storage: MemoryStorage) -> None:
        self._storage = storage
        self._lock = asyncio.Lock()
        self._penalty_until = 0.0
        self._last_use: dict[str, float] = {}
        self._demand_until: dict[str, float] = {}

    @asynccontextmanager
    async def locked(self) -> AsyncIterator[None]:
        async with self._lock:
            yield

    async def penalty_until(self) -> float:
        return self._penalty_until

    async def set_penalty(self, until: float) -> None:
        self._penalty_until = max(self._penalty_until, until)

    async def note_use(self, user: str, now: float, window: int) -> None:
        self._last_use[user] = now
        self._prune(now, window)

    async def note_demand(self, user: str, until: float) -> None:
        self._demand_until[user] = max(self._demand_until.get(user, 0.0), until)

    async def others_active_until(self, user: str, now: float, window: int) -> float:
        """When every other user will have gone quiet (0 if they already have)."""
        self._prune(now, window)
        ends = [t + window for u, t in self._last_use.items() if u != user]
        ends += [t for u, t in self._demand_until.items() if u != user]
        return max(ends, default=0.0)

    async def users_in_window(self, now: float, window: int) -> list[str]:
        self._prune(now, window)
        return sorted(self._last_use)

    async def timestamp_at(self, key: str, index: int) -> float | None:
        # MemoryStorage keeps one entry per unit of cost, newest first (limits 5.x layout).
        events = self._storage.events.get(key, [])
        return events[index].atime if index < len(events) else None

    async def reset(self) -> None:
        await self._storage.reset()
        self._penalty_until = 0.0
        self._last_use.clear()
        self._demand_until.clear()

    async def close(self) -> None:
        """Nothing to release in memory."""

    def _prune(self, now: float, window: int) -> None:
        self._last_use = {u: t for u, t in self._last_use.items() if t > now - window}
        self._demand_until = {u: t for u, t in self._demand_until.items() if t > now}


class _RedisState:
    """Penalty, fairness registries and locking shared by every worker through Redis."""

    backend: Literal["memory", "redis"] = "redis"

    def __init__(self, client: Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix
        self._local = asyncio.Lock()  # one task per process contends for the Redis lock
        self._penalty = f"{prefix}:penalty"
        self._users = f"{prefix}:users"
        self._demand = f"{prefix}:demand"

    @asynccontextmanager
    async def locked(self) -> AsyncIterator[None]:
        # The Redis lock's timeout frees it if a worker dies inside; the section itself takes milliseconds.
        lock = self._redis.lock(f"{self._prefix}-lock", timeout=5, sleep=0.002, blocking_timeout=10)
        async with self._local, lock:
            yield

    async def penalty_until(self) -> float:
        score = await self._redis.zscore(self._penalty, "until")
        return float(score or 0.0)

    async def set_penalty(self, until: float) -> None:
        # ZADD GT keeps the later deadline atomically when two workers get a 429 at once.
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self._penalty, {"until": until}, gt=True)
            pipe.expire(self._penalty, _REDIS_KEY_TTL_SECONDS)
            await pipe.execute()

    async def note_use(self, user: str, now: float, window: int) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self._users, {user: now})
            pipe.zremrangebyscore(self._users, "-inf", now - window)
            pipe.expire(self._users, window + 1)
            await pipe.execute()

    async def note_demand(self, user: str, until: float) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self._demand, {user: until}, gt=True)  # GT still adds new members
            pipe.zremrangebyscore(self._demand, "-inf", time.time())
            pipe.expire(self._demand, _REDIS_KEY_TTL_SECONDS)
            await pipe.execute()

    async def others_active_until(self, user: str, now: float, window: int) -> float:
        """When every other user will have gone quiet (0 if they already have)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrangebyscore(self._users, now - window, "+inf", withscores=True)
            pipe.zrangebyscore(self._demand, now, "+inf", withscores=True)
            users, demand = await pipe.execute()
        ends = [score + window for member, score in users if member.decode() != user]
        ends += [score for member, score in demand if member.decode() != user]
        return max(ends, default=0.0)

    async def users_in_window(self, now: float, window: int) -> list[str]:
        members = await self._redis.zrangebyscore(self._users, now - window, "+inf")
        return sorted(m.decode() for m in members)

    async def timestamp_at(self, key: str, index: int) -> float | None:
        # RedisStorage keeps a list of timestamps, newest first, under "<prefix>:<key>" (limits 5.x layout).
        raw = await self._redis.lindex(f"{self._prefix}:{key}", index)
        return float(raw) if raw is not None else None

    async def reset(self) -> None:
        async with self.locked():
            keys = [k async for k in self._redis.scan_iter(match=f"{self._prefix}:*", count=1000)]
            if keys:
                await self._redis.delete(*keys)

    async def close(self) -> None:
        await self._redis.aclose()
        await self._redis.connection_pool.aclose()


class RateLimiter:
    """Sliding-window RPM/TPM limiter with fair sharing; one per process, shared state in Redis if configured.

    ``redis_url`` empty means in-process memory; ``max_user_share`` is the fairness cap (0 < share <= 1,
    1 turns fairness off); ``namespace`` separates apps or tests sharing one Redis; ``window_seconds``
    is 60 in production and shorter in tests.
    """

    def __init__(
        self,
        *,
        rpm: int,
        tpm: int,
        redis_url: str = "",
        max_user_share: float = 0.5,
        namespace: str = "fabrix",
        window_seconds: int = 60,
    ) -> None:
        if rpm < 1 or tpm < 1:
            raise ValueError("rpm and tpm must be at least 1")
        if not 0 < max_user_share <= 1:
            raise ValueError("max_user_share must be above 0 and at most 1")
        if int(window_seconds) != window_seconds or window_seconds < 1:
            # Whole seconds: the Redis storage sets the key's EXPIRE to the window.
            raise ValueError("window_seconds must be a whole number of seconds, at least 1")
        self.rpm = rpm
        self.tpm = tpm
        self.max_user_share = max_user_share
        self.window = int(window_seconds)
        self._waiting = 0
        self._state: _MemoryState | _RedisState
        prefix = f"{namespace}:ratelimit"
        if redis_url:
            # One connection pool per process, shared by the library's windows and our own keys.
            pool = ConnectionPool.from_url(redis_url)
            self._storage: MemoryStorage | RedisStorage = RedisStorage(
                _limits_uri(redis_url), implementation="redispy", key_prefix=prefix, connection_pool=pool
            )
            self._state = _RedisState(Redis(connection_pool=pool), prefix)
        else:
            self._storage = MemoryStorage()
            self._state = _MemoryState(self._storage)

    @classmethod
    def from_settings(
        cls, settings: RateLimitSettings, *, max_user_share: float = 0.5, namespace: str = "fabrix"
    ) -> RateLimiter:
        """The limiter configured by the ``[rate_limit]`` section."""
        return cls(
            rpm=settings.rpm,
            tpm=settings.tpm,
            redis_url=settings.redis_url,
            max_user_share=max_user_share,
            namespace=namespace,
        )

    @property
    def backend(self) -> Literal["memory", "redis"]:
        return self._state.backend

    async def acquire(
        self,
        *,
        user: str,
        tokens: int,
        max_wait: float,
        attempts: int = 3,
        on_wait: OnWait | None = None,
    ) -> None:
        """Reserve 1 request and ``tokens`` estimated tokens, waiting up to ``max_wait`` s; else RateLimited."""
        cost = min(max(int(tokens), 1), self.tpm)
        deadline = time.monotonic() + max(max_wait, 0.0)
        for attempt in range(1, max(attempts, 1) + 1):
            wait = await self._try_admit(user, cost)
            if wait <= 0:
                return
            if attempt >= attempts or wait > deadline - time.monotonic():
                raise RateLimited(wait)
            self._waiting += 1
            try:
                if on_wait is not None:
                    result = on_wait(wait)
                    if inspect.isawaitable(result):
                        await result
                await asyncio.sleep(wait + _WAKE_SLACK_SECONDS)
            finally:
                self._waiting -= 1

    async def record_tokens(self, *, user: str, tokens: int) -> None:
        """Charge the answer's tokens after the call; may overflow the window so later requests wait."""
        cost = min(int(tokens), self.tpm)
        if cost <= 0:
            return
        big = self.tpm * _RECORD_LIMIT_FACTOR
        async with self._state.locked():
            for key in (_TOKENS, _user_key("tokens", user)):
                if not await self._storage.acquire_entry(key, big, self.window, cost):
                    log.warning("rate limiter: token correction of %d dropped, window already far over budget", cost)

    async def penalize(self, retry_after: float) -> None:
        """Block every request (in all workers) for ``retry_after`` seconds, e.g. after an upstream 429."""
        if not math.isfinite(retry_after) or retry_after <= 0:
            return
        await self._state.set_penalty(time.time() + retry_after)

    async def snapshot(self) -> UsageSnapshot:
        """Usage in the current window: used, remaining, current wait and per-user figures."""
        now = time.time()
        rpm_used = await self._count(_REQUESTS, self.rpm)
        tpm_used = await self._count(_TOKENS, self.tpm)
        wait = max(
            await self._state.penalty_until() - now,
            await self._wait_for_room(_REQUESTS, rpm_used, self.rpm, 1, now),
            await self._wait_for_room(_TOKENS, tpm_used, self.tpm, 1, now),
            0.0,
        )
        per_user = {}
        for user in await self._state.users_in_window(now, self.window):
            per_user[user] = {
                "requests": await self._count(_user_key("requests", user), self.rpm),
                "tokens": await self._count(_user_key("tokens", user), self.tpm),
            }
        return UsageSnapshot(
            rpm_used=rpm_used,
            rpm_limit=self.rpm,
            tpm_used=tpm_used,
            tpm_limit=self.tpm,
            rpm_remaining=max(self.rpm - rpm_used, 0),
            tpm_remaining=max(self.tpm - tpm_used, 0),
            waiting=self._waiting,
            current_wait_seconds=round(wait, 3),
            per_user=per_user,
            backend=self.backend,
        )

    async def reset(self) -> None:
        """Forget all usage, penalties and fairness state (tests, admin)."""
        await self._state.reset()

    async def close(self) -> None:
        """Release the Redis connections (call on shutdown)."""
        await self._state.close()

    async def _try_admit(self, user: str, cost: int) -> float:
        """Admit now (return 0) or return the seconds until this request could be admitted."""
        async with self._state.locked():
            now = time.time()
            rpm_used = await self._count(_REQUESTS, self.rpm)
            tpm_used = await self._count(_TOKENS, self.tpm)
            waits = [
                await self._state.penalty_until() - now,
                await self._wait_for_room(_REQUESTS, rpm_used, self.rpm, 1, now),
                await self._wait_for_room(_TOKENS, tpm_used, self.tpm, cost, now),
            ]
            others_until = await self._state.others_active_until(user, now, self.window)
            if others_until > now:
                waits.append(min(await self._fair_share_wait(user, cost, now), others_until - now))
            wait = max(waits)
            if wait > 0:
                # Remember the demand so heavy users are capped until this user has had a turn.
                await self._state.note_demand(user, now + wait + _DEMAND_GRACE_SECONDS)
                return wait
            # The admission hits use the real limits: atomic in `limits`, so they are the last word.
            admitted = await self._storage.acquire_entry(_REQUESTS, self.rpm, self.window, 1)
            if admitted and not await self._storage.acquire_entry(_TOKENS, self.tpm, self.window, cost):
                log.warning("rate limiter: token window refused a checked request; its request slot stays used")
                admitted = False
            if not admitted:
                return _RETRY_SOON_SECONDS
            await self._storage.acquire_entry(
                _user_key("requests", user), self.rpm * _RECORD_LIMIT_FACTOR, self.window, 1
            )
            await self._storage.acquire_entry(
                _user_key("tokens", user), self.tpm * _RECORD_LIMIT_FACTOR, self.window, cost
            )
            await self._state.note_use(user, now, self.window)
            return 0.0

    async def _fair_share_wait(self, user: str, cost: int, now: float) -> float:
        """Seconds until ``user`` fits under the fair-share caps (0 if it does now)."""
        cap_requests = max(1, math.floor(self.max_user_share * self.rpm))
        cap_tokens = max(1, math.floor(self.max_user_share * self.tpm))
        requests_key, tokens_key = _user_key("requests", user), _user_key("tokens", user)
        used_requests = await self._count(requests_key, self.rpm)
        used_tokens = await self._count(tokens_key, self.tpm)
        return max(
            await self._wait_for_room(requests_key, used_requests, cap_requests, 1, now),
            # A request bigger than the cap runs once the user's own window is empty.
            await self._wait_for_room(tokens_key, used_tokens, cap_tokens, min(cost, cap_tokens), now),
        )

    async def _count(self, key: str, limit: int) -> int:
        """Entries of ``key`` inside the window, overflow included."""
        _, count = await self._storage.get_moving_window(key, limit * _RECORD_LIMIT_FACTOR, self.window)
        return count

    async def _wait_for_room(self, key: str, used: int, limit: int, cost: int, now: float) -> float:
        """Seconds until ``used + cost <= limit``: the entry at index ``limit - cost`` must leave the window."""
        if used + cost <= limit:
            return 0.0
        stamp = await self._state.timestamp_at(key, limit - cost)
        if stamp is None:  # the storage layout changed under us: assume a whole window, never under-wait
            return float(self.window)
        return max(stamp + self.window - now, _RETRY_SOON_SECONDS)


def _limits_uri(redis_url: str) -> str:
    """The `limits` async storage URI for a redis-py URL (redis://, rediss://, unix://)."""
    if redis_url.startswith("unix://"):
        return "async+redis+unix://" + redis_url.removeprefix("unix://")
    return "async+" + redis_url
